" Vim syntax for ADead-BIB assembly (.adasm). Generated from isa/opcodes.def by `make docs`;
" do not edit (a test fails when it is stale). Install: copy editors/vim/ into ~/.vim/.
if exists("b:current_syntax")
  finish
endif
syntax case match
syntax keyword adasmOpcode NOP JMP JZ JNZ JEQ JNE JLT JLE
syntax keyword adasmOpcode JGT JGE JEQI JNEI JLTI JLEI JGTI JGEI
syntax keyword adasmOpcode LOOP CALL RET SPAWN YIELD JOIN PRINTI PRINTF
syntax keyword adasmOpcode PRINTS PRINTT TRAP HALT ALLOC FREE LOAD STORE
syntax keyword adasmOpcode LOADW STOREW LOADB STOREB MOV LDI LDF LDK
syntax keyword adasmOpcode TNEW TLOADK TLD TST TDIM TSIZE TFREE TCOPY
syntax keyword adasmOpcode TRESHAPE TFILL ADD SUB MUL DIV REM AND
syntax keyword adasmOpcode OR XOR SHL SHR SAR NEG NOT ADDI
syntax keyword adasmOpcode MULI EQ NE LT LE LTU LEU FADD
syntax keyword adasmOpcode FSUB FMUL FDIV FMA FNEG FABS FMIN FMAX
syntax keyword adasmOpcode FEXP FEQ FLT FLE ITOF FTOI MATMUL TRANSPOSE
syntax keyword adasmOpcode SOFTMAX RELU ATTENTION ATTENTION_CAUSAL TADD TSUB TMUL GPU_INIT
syntax keyword adasmOpcode GPU_ALLOC GPU_MATMUL GPU_SYNC VK_INIT VK_COMPUTE VK_ARG VK_SUBMIT VK_SYNC
syntax match adasmDirective /^\s*\.\(tensor\|input\|output\|const\|flags\|spirv\|line\|file\|raw\)\>/
syntax keyword adasmType f32 i32 i64 str relaxed
syntax match adasmRegister /\<r\d\+\>/
syntax match adasmLabel /^\s*[A-Za-z_.][A-Za-z0-9_.]*:/
syntax match adasmNumber /\<-\?\(0x\x\+\|\d\+\(\.\d*\)\?\([eE][-+]\?\d\+\)\?\)\>/
syntax keyword adasmNumber inf nan
syntax region adasmString start=/"/ skip=/\\./ end=/"/
syntax match adasmComment /;.*$/
highlight default link adasmOpcode Statement
highlight default link adasmDirective PreProc
highlight default link adasmType Type
highlight default link adasmRegister Identifier
highlight default link adasmLabel Label
highlight default link adasmNumber Number
highlight default link adasmString String
highlight default link adasmComment Comment
let b:current_syntax = "adasm"
