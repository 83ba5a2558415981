-- The call benchmark in Lua: the same recursion as bench/fib.adasm.
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print(fib(32))
