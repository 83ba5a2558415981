#include "lex.h"

#include <string.h>

void lex_init(lexer *lx, const char *src, size_t len)
{
    lx->src = lx->p = lx->line_start = src;
    lx->end = src + len;
    lx->line = 1;
    lx->has_peeked = 0;
}

static int is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_ident_char(char c) { return is_ident_start(c) || is_digit(c) || c == '.'; }

static token make(lexer *lx, tk_kind kind, const char *start)
{
    token t;
    t.kind = kind;
    t.text = start;
    t.len = (size_t)(lx->p - start);
    t.line = lx->line;
    t.col = (uint32_t)(start - lx->line_start) + 1;
    t.line_start = lx->line_start;
    return t;
}

/* A number lexeme: optional sign, then digits, letters, '.', '_', and a sign right after an
 * exponent letter (e/E in decimal, p/P in hex floats). Validity is the parser's business. */
static void scan_number(lexer *lx)
{
    if (*lx->p == '-' || *lx->p == '+') lx->p++;
    int hex = lx->end - lx->p > 1 && lx->p[0] == '0' && (lx->p[1] == 'x' || lx->p[1] == 'X');
    while (lx->p < lx->end && (is_ident_char(*lx->p))) {
        char c = *lx->p++;
        int exp = hex ? (c == 'p' || c == 'P') : (c == 'e' || c == 'E');
        if (exp && lx->p < lx->end && (*lx->p == '-' || *lx->p == '+')) lx->p++;
    }
}

static token scan(lexer *lx)
{
    for (;;) {
        while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r')) lx->p++;
        if (lx->p < lx->end && (*lx->p == ';' || *lx->p == '#'))
            while (lx->p < lx->end && *lx->p != '\n') lx->p++;
        if (lx->p >= lx->end) return make(lx, TK_EOF, lx->p);
        const char *start = lx->p;
        char c = *lx->p;
        if (c == '\n') {
            lx->p++;
            token t = make(lx, TK_NEWLINE, start);
            lx->line++;
            lx->line_start = lx->p;
            return t;
        }
        if (is_ident_start(c)) {
            while (lx->p < lx->end && is_ident_char(*lx->p)) lx->p++;
            return make(lx, TK_IDENT, start);
        }
        if (c == '.' && lx->p + 1 < lx->end && is_ident_start(lx->p[1])) {
            lx->p++;
            while (lx->p < lx->end && is_ident_char(*lx->p)) lx->p++;
            return make(lx, TK_DIRECTIVE, start);
        }
        if (is_digit(c) || ((c == '-' || c == '+') && lx->p + 1 < lx->end && is_digit(lx->p[1]))) {
            scan_number(lx);
            return make(lx, TK_NUMBER, start);
        }
        if (c == '"') {
            lx->p++;
            while (lx->p < lx->end && *lx->p != '"' && *lx->p != '\n')
                lx->p += (*lx->p == '\\' && lx->p + 1 < lx->end && lx->p[1] != '\n') ? 2 : 1;
            if (lx->p < lx->end && *lx->p == '"') {
                lx->p++;
                return make(lx, TK_STRING, start);
            }
            return make(lx, TK_BAD, start); /* unterminated */
        }
        lx->p++;
        if (strchr(",:[]=()-@", c)) return make(lx, TK_PUNCT, start);
        return make(lx, TK_BAD, start);
    }
}

token lex_next(lexer *lx)
{
    if (lx->has_peeked) {
        lx->has_peeked = 0;
        return lx->peeked;
    }
    return scan(lx);
}

token lex_peek(lexer *lx)
{
    if (!lx->has_peeked) {
        lx->peeked = scan(lx);
        lx->has_peeked = 1;
    }
    return lx->peeked;
}

int tk_is(const token *tok, char c) { return tok->kind == TK_PUNCT && tok->text[0] == c; }

int tk_word(const token *tok, const char *word)
{
    return tok->kind == TK_IDENT && tok->len == strlen(word) && !memcmp(tok->text, word, tok->len);
}
