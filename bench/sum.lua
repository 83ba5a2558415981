-- The loop benchmark in Lua: the same sum as bench/sum.adasm.
local total = 0
for i = 0, 100000000 - 1 do total = total + i end
print(total)
