/* Tokens of .adasm text. Numbers are kept as lexemes and read by the parser in the context of
 * the operand (i32, i64, f32), so one token kind serves every numeric syntax. */
#ifndef ADEAD_LEX_H
#define ADEAD_LEX_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TK_EOF, TK_NEWLINE, TK_IDENT, TK_DIRECTIVE, TK_NUMBER, TK_STRING, TK_PUNCT, TK_BAD } tk_kind;

typedef struct {
    tk_kind kind;
    const char *text; /* lexeme in the source (strings with their quotes) */
    size_t len;
    uint32_t line, col;     /* 1-based */
    const char *line_start; /* for showing the line in diagnostics */
} token;

typedef struct {
    const char *src, *end;
    const char *p;
    uint32_t line;
    const char *line_start;
    token peeked;
    int has_peeked;
} lexer;

void lex_init(lexer *lx, const char *src, size_t len);
token lex_next(lexer *lx);
token lex_peek(lexer *lx);
/* True when tok is the single punctuation character c. */
int tk_is(const token *tok, char c);
/* True when tok is an identifier equal to word (case-sensitive). */
int tk_word(const token *tok, const char *word);

#endif
