autocmd BufRead,BufNewFile *.adasm set filetype=adasm
