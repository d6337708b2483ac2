/*
 * parser.y - the .kdl grammar: the part of Python that model-building code
 * uses. Actions only build the AST (ast.c); meaning is given by eval.c.
 *
 * Tokens come through next_token(), which turns the raw scanner's newlines
 * into Python's NEWLINE / INDENT / DEDENT stream:
 *   - NEWLINE is emitted once per logical line (blank and comment-only lines
 *     produce none; inside brackets the scanner drops newlines);
 *   - the first token of each logical line is compared with the indentation
 *     stack: deeper pushes and emits INDENT, shallower pops and emits one
 *     DEDENT per level; a level that is on no stack entry is an error;
 *   - tabs and spaces: indentation is measured twice (tab = 8 columns and
 *     tab = 1 column); if the two measures disagree on the ordering against
 *     the stack, the file mixes them inconsistently (Python's TabError);
 *   - at end of input a final NEWLINE and the pending DEDENTs are emitted.
 * A synthetic first token selects whole-file or single-expression parsing
 * (f-string fields, internal signatures).
 *
 * Errors: `error` productions at statement level resynchronise at the next
 * NEWLINE, so independent syntax errors are all reported.
 */
%define api.pure full
%define api.token.prefix {TK_}
%define api.location.type {Loc}
%define parse.error detailed
%locations
%expect 0
%param {Parser *p}

%code requires {
#include "kdlc.h"

typedef struct Loc {
    int start, end;
} Loc;

#define MAX_INDENT 100

typedef struct Parser {
    Ctx *c;
    SrcFile *file;
    void *scanner;
    int base;               // added to scanner offsets (f-string fields)
    int off;                // scanner's running offset
    int depth;              // bracket nesting (newlines inside are joins)
    int lex_errors;
    // token filter state (next_token)
    int start_token;        // TK_START_FILE or TK_START_EXPR, sent first
    bool started;
    int indent8[MAX_INDENT], indent1[MAX_INDENT];
    int nindent;
    bool at_bol;            // next token starts a logical line
    int last;               // last token handed to the parser
    int pending_dedents;
    int held_tok;           // a token read ahead while emitting INDENT/DEDENT
    bool have_held;
    union YYSTYPE *held_val_p;
    Loc held_loc;
    bool eof_done;
    Node *result;
} Parser;
}

%code provides {
int raw_lex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);
}

%union {
    Node *node;
    const char *str;
    int64_t ival;
    double fval;
    int op;
    struct { const char *s; size_t n; int body_off; } s;
}

%code {
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                          \
    do {                                                     \
        if (N) {                                             \
            (Cur).start = YYRHSLOC(Rhs, 1).start;            \
            (Cur).end = YYRHSLOC(Rhs, N).end;                \
        } else {                                             \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;  \
        }                                                    \
    } while (0)

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p);
static void yyerror(YYLTYPE *lloc, Parser *p, const char *msg);

static Span S(Parser *p, Loc l) {
    return (Span){p->file, l.start, l.end};
}
static Node *mk(Parser *p, NodeKind k, Loc l) {
    return new_node(p->c, k, S(p, l));
}
static Node *binop(Parser *p, OpKind op, Node *a, Node *b, Loc l) {
    Node *n = mk(p, ND_BINOP, l);
    n->op = op;
    n->lhs = a;
    n->rhs = b;
    return n;
}
static Node *push(Parser *p, Node *list, Node *item) {
    vec_push(p->c->arena, &list->items, item);
    return list;
}
static Node *compare(Parser *p, Node *a, OpKind op, Node *b, Loc l) {
    Node *n;
    if (a->kind == ND_COMPARE && !a->dots) {   // chain a < b < c
        n = a;
        n->span = S(p, l);
    } else {
        n = mk(p, ND_COMPARE, l);
        vec_push(p->c->arena, &n->items, a);
    }
    vec_push(p->c->arena, &n->items, b);
    vec_push(p->c->arena, &n->ops, (void *)(intptr_t)op);
    return n;
}
// `x, y` without brackets: a tuple if there was a comma.
static Node *seq_or_single(Parser *p, Node *list, bool comma, Loc l) {
    if (!comma && list->items.len == 1)
        return list->items.data[0];
    list->kind = ND_TUPLE;
    list->span = S(p, l);
    return list;
}
}

%token START_FILE START_EXPR
%token NEWLINE "end of line" INDENT "indent" DEDENT "unindent"
%token <str> NAME "name"
%token <ival> INT "integer"
%token <fval> FLOAT "float"
%token <s> STRING "string" FSTRING "f-string"
%token IMPORT "import" FROM "from" AS "as" DEF "def" CLASS "class" RETURN "return"
%token FOR "for" IN "in" IF "if" ELIF "elif" ELSE "else" PASS "pass" AND "and" OR "or"
%token NOT "not" NONE "None" TRUE "True" FALSE "False" WHILE "while" BREAK "break"
%token CONTINUE "continue" IS "is" ASSERT "assert" UNSUPPORTED "unsupported keyword"
%token POW "**" FLOORDIV "//" EQ "==" NE "!=" LE "<=" GE ">=" ARROW "->"
%token <op> AUGASSIGN "augmented assignment"

%type <node> stmts stmt simple_stmt small_stmt compound_stmt block suite
%type <node> expr_stmt assign_chain import_stmt dotted_as_names dotted_as_name import_as_names
%type <node> import_as_name if_stmt elif_tail for_stmt while_stmt def_stmt params param_list
%type <node> param class_stmt decorators decorator
%type <node> test or_test and_test not_test comparison expr factor power atom_expr atom
%type <node> testlist testlist_items exprlist exprlist_items arglist args arg subscript
%type <node> list_body dict_body dict_items strings comp_for comp_tail
%type <str> dotted_name
%type <op> comp_op

%left '+' '-'
%left '*' '/' FLOORDIV '%' '@'

%%

top
    : START_FILE file
    | START_EXPR testlist opt_newlines     { p->result = $2; }
    ;

opt_newlines
    : %empty
    | opt_newlines NEWLINE
    ;

file
    : %empty                              { p->result = mk(p, ND_BLOCK, @$); }
    | stmts                               { p->result = $1; }
    ;

stmts
    : stmt                                { $$ = mk(p, ND_BLOCK, @$); if ($1) push(p, $$, $1); }
    | stmts stmt                          { $$ = $1; if ($2) push(p, $$, $2); $$->span.end = @2.end; }
    ;

stmt
    : simple_stmt NEWLINE                 { $$ = $1; }
    | compound_stmt                       { $$ = $1; }
    | error NEWLINE                       { $$ = NULL; yyerrok; }
    | INDENT error DEDENT                 { $$ = NULL; }
    ;

simple_stmt
    : small_stmt                          { $$ = $1; }
    | simple_stmt ';' small_stmt {
          if ($1->kind == ND_BLOCK) { $$ = push(p, $1, $3); }
          else { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); push(p, $$, $3); }
      }
    | simple_stmt ';'                     { $$ = $1; }
    ;

small_stmt
    : expr_stmt                           { $$ = $1; }
    | PASS                                { $$ = mk(p, ND_PASS, @$); }
    | BREAK                               { $$ = mk(p, ND_BREAK, @$); }
    | CONTINUE                            { $$ = mk(p, ND_CONTINUE, @$); }
    | RETURN                              { $$ = mk(p, ND_RETURN, @$); }
    | RETURN testlist                     { $$ = mk(p, ND_RETURN, @$); $$->lhs = $2; }
    | ASSERT test                         { $$ = mk(p, ND_ASSERT, @$); $$->cond = $2; }
    | ASSERT test ',' test                { $$ = mk(p, ND_ASSERT, @$); $$->cond = $2; $$->rhs = $4; }
    | import_stmt                         { $$ = $1; }
    | UNSUPPORTED {
          error_at(p->c, S(p, @1), "'%.*s' is not supported in .kdl files",
                   @1.end - @1.start, p->file->text + @1.start - p->base);
          YYERROR;
      }
    ;

expr_stmt
    : testlist                            { $$ = mk(p, ND_EXPR_STMT, @$); $$->lhs = $1; }
    | assign_chain testlist {
          $$ = $1; $$->rhs = $2; $$->span = S(p, @$);
      }
    | test AUGASSIGN testlist {
          $$ = mk(p, ND_AUGASSIGN, @$); $$->op = $2; $$->lhs = $1; $$->rhs = $3;
      }
    ;

// a = b = value: targets collected left to right.
assign_chain
    : testlist '='                        { $$ = mk(p, ND_ASSIGN, @$); push(p, $$, $1); }
    | assign_chain testlist '='           { $$ = push(p, $1, $2); }
    ;

import_stmt
    : IMPORT dotted_as_names              { $$ = $2; $$->span = S(p, @$); }
    | FROM dotted_name IMPORT import_as_names {
          $$ = $4; $$->kind = ND_FROM_IMPORT; $$->name = $2; $$->span = S(p, @$);
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | FROM dotted_name IMPORT '(' import_as_names opt_comma ')' {
          $$ = $5; $$->kind = ND_FROM_IMPORT; $$->name = $2; $$->span = S(p, @$);
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | FROM '.' error                      {
          error_at(p->c, S(p, @2), "relative imports are not supported in .kdl files");
          YYERROR;
      }
    ;

opt_comma
    : %empty
    | ','
    ;

dotted_as_names
    : dotted_as_name                      { $$ = mk(p, ND_IMPORT, @$); push(p, $$, $1); }
    | dotted_as_names ',' dotted_as_name  { $$ = push(p, $1, $3); }
    ;

dotted_as_name
    : dotted_name                         { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; }
    | dotted_name AS NAME                 { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; $$->alias = $3; }
    ;

import_as_names
    : import_as_name                      { $$ = mk(p, ND_FROM_IMPORT, @$); push(p, $$, $1); }
    | import_as_names ',' import_as_name  { $$ = push(p, $1, $3); }
    ;

import_as_name
    : NAME                                { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; }
    | NAME AS NAME                        { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; $$->alias = $3; }
    | '*' {
          error_at(p->c, S(p, @1), "'from ... import *' is not supported; import the names you use");
          $$ = mk(p, ND_ALIAS, @$); $$->name = "*";
      }
    ;

dotted_name
    : NAME                                { $$ = $1; }
    | dotted_name '.' NAME                { $$ = arena_printf(p->c->arena, "%s.%s", $1, $3); }
    ;

compound_stmt
    : if_stmt                             { $$ = $1; }
    | for_stmt                            { $$ = $1; }
    | while_stmt                          { $$ = $1; }
    | def_stmt                            { $$ = $1; }
    | class_stmt                          { $$ = $1; }
    | decorators def_stmt                 { $$ = mk(p, ND_DECORATED, @$); $$->items = $1->items; $$->lhs = $2; }
    | decorators class_stmt               { $$ = mk(p, ND_DECORATED, @$); $$->items = $1->items; $$->lhs = $2; }
    ;

decorators
    : decorator                           { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); }
    | decorators decorator                { $$ = push(p, $1, $2); }
    ;

decorator
    : '@' test NEWLINE                    { $$ = $2; }
    ;

block
    : ':' suite                           { $$ = $2; }
    ;

suite
    : simple_stmt NEWLINE {
          if ($1->kind == ND_BLOCK) $$ = $1;
          else { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); }
      }
    | NEWLINE INDENT stmts DEDENT         { $$ = $3; }
    ;

if_stmt
    : IF test block elif_tail             { $$ = mk(p, ND_IF, @$); $$->cond = $2; $$->body = $3; $$->orelse = $4; }
    ;

elif_tail
    : %empty                              { $$ = NULL; }
    | ELSE block                          { $$ = $2; }
    | ELIF test block elif_tail {
          Node *n = mk(p, ND_IF, @$); n->cond = $2; n->body = $3; n->orelse = $4;
          $$ = mk(p, ND_BLOCK, @$); push(p, $$, n);
      }
    ;

for_stmt
    : FOR exprlist IN testlist block      { $$ = mk(p, ND_FOR, @$); $$->target = $2; $$->iter = $4; $$->body = $5; }
    | FOR exprlist IN testlist block ELSE block {
          $$ = mk(p, ND_FOR, @$); $$->target = $2; $$->iter = $4; $$->body = $5; $$->orelse = $7;
      }
    ;

while_stmt
    : WHILE test block                    { $$ = mk(p, ND_WHILE, @$); $$->cond = $2; $$->body = $3; }
    ;

def_stmt
    : DEF NAME '(' params ')' block {
          $$ = mk(p, ND_DEF, @$); $$->name = $2; $$->items = $4->items; $$->body = $6;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | DEF NAME '(' params ')' ARROW test block {
          $$ = mk(p, ND_DEF, @$); $$->name = $2; $$->items = $4->items; $$->body = $8;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    ;

params
    : %empty                              { $$ = mk(p, ND_BLOCK, @$); }
    | param_list opt_comma                { $$ = $1; }
    ;

param_list
    : param                               { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); }
    | param_list ',' param                { $$ = push(p, $1, $3); }
    ;

param
    : NAME                                { $$ = mk(p, ND_PARAM, @$); $$->name = $1; }
    | NAME ':' test                       { $$ = mk(p, ND_PARAM, @$); $$->name = $1; }
    | NAME '=' test                       { $$ = mk(p, ND_PARAM, @$); $$->name = $1; $$->dflt = $3; }
    | NAME ':' test '=' test              { $$ = mk(p, ND_PARAM, @$); $$->name = $1; $$->dflt = $5; }
    | '*' NAME                            { $$ = mk(p, ND_PARAM, @$); $$->name = $2; $$->param_kind = 1; }
    | '*'                                 { $$ = mk(p, ND_PARAM, @$); $$->name = "*"; $$->param_kind = 1; }
    | POW NAME                            { $$ = mk(p, ND_PARAM, @$); $$->name = $2; $$->param_kind = 2; }
    ;

class_stmt
    : CLASS NAME block {
          $$ = mk(p, ND_CLASS, @$); $$->name = $2; $$->body = $3;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | CLASS NAME '(' ')' block {
          $$ = mk(p, ND_CLASS, @$); $$->name = $2; $$->body = $5;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | CLASS NAME '(' arglist ')' block {
          $$ = mk(p, ND_CLASS, @$); $$->name = $2; $$->items = $4->items; $$->body = $6;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    ;

// ---- expressions ------------------------------------------------------

testlist
    : testlist_items                      { $$ = seq_or_single(p, $1, false, @$); }
    | testlist_items ','                  { $$ = seq_or_single(p, $1, true, @$); }
    ;

testlist_items
    : test                                { $$ = mk(p, ND_TUPLE, @$); push(p, $$, $1); }
    | testlist_items ',' test             { $$ = push(p, $1, $3); }
    ;

// for-loop targets: no comparisons, so `in` ends them.
exprlist
    : exprlist_items                      { $$ = seq_or_single(p, $1, false, @$); }
    | exprlist_items ','                  { $$ = seq_or_single(p, $1, true, @$); }
    ;

exprlist_items
    : expr                                { $$ = mk(p, ND_TUPLE, @$); push(p, $$, $1); }
    | exprlist_items ',' expr             { $$ = push(p, $1, $3); }
    ;

test
    : or_test                             { $$ = $1; }
    | or_test IF or_test ELSE test {
          $$ = mk(p, ND_IFEXP, @$); $$->lhs = $1; $$->cond = $3; $$->rhs = $5;
      }
    ;

or_test
    : and_test                            { $$ = $1; }
    | or_test OR and_test                 { $$ = mk(p, ND_OR, @$); $$->lhs = $1; $$->rhs = $3; }
    ;

and_test
    : not_test                            { $$ = $1; }
    | and_test AND not_test               { $$ = mk(p, ND_AND, @$); $$->lhs = $1; $$->rhs = $3; }
    ;

not_test
    : NOT not_test                        { $$ = mk(p, ND_NOT, @$); $$->lhs = $2; }
    | comparison                          { $$ = $1; }
    ;

comparison
    : expr                                { $$ = $1; }
    | comparison comp_op expr             { $$ = compare(p, $1, $2, $3, @$); }
    ;

comp_op
    : '<'                                 { $$ = OP_LT; }
    | '>'                                 { $$ = OP_GT; }
    | EQ                                  { $$ = OP_EQ; }
    | NE                                  { $$ = OP_NE; }
    | LE                                  { $$ = OP_LE; }
    | GE                                  { $$ = OP_GE; }
    | IN                                  { $$ = OP_IN; }
    | NOT IN                              { $$ = OP_NOT_IN; }
    | IS                                  { $$ = OP_IS; }
    | IS NOT                              { $$ = OP_IS_NOT; }
    ;

expr
    : factor                              { $$ = $1; }
    | expr '+' expr                       { $$ = binop(p, OP_ADD, $1, $3, @$); }
    | expr '-' expr                       { $$ = binop(p, OP_SUB, $1, $3, @$); }
    | expr '*' expr                       { $$ = binop(p, OP_MUL, $1, $3, @$); }
    | expr '/' expr                       { $$ = binop(p, OP_DIV, $1, $3, @$); }
    | expr FLOORDIV expr                  { $$ = binop(p, OP_FLOORDIV, $1, $3, @$); }
    | expr '%' expr                       { $$ = binop(p, OP_MOD, $1, $3, @$); }
    | expr '@' expr                       { $$ = binop(p, OP_MATMUL, $1, $3, @$); }
    ;

factor
    : '-' factor                          { $$ = mk(p, ND_UNARY, @$); $$->op = OP_NEG; $$->lhs = $2; }
    | '+' factor                          { $$ = mk(p, ND_UNARY, @$); $$->op = OP_POS; $$->lhs = $2; }
    | power                               { $$ = $1; }
    ;

power
    : atom_expr                           { $$ = $1; }
    | atom_expr POW factor                { $$ = binop(p, OP_POW, $1, $3, @$); }
    ;

atom_expr
    : atom                                { $$ = $1; }
    | atom_expr '(' ')'                   { $$ = mk(p, ND_CALL, @$); $$->fn = $1; }
    | atom_expr '(' arglist ')'           { $$ = mk(p, ND_CALL, @$); $$->fn = $1; $$->items = $3->items; }
    | atom_expr '[' subscript ']'         { $$ = mk(p, ND_INDEX, @$); $$->lhs = $1; $$->rhs = $3; }
    | atom_expr '.' NAME {
          $$ = mk(p, ND_ATTR, @$); $$->lhs = $1; $$->name = $3;
          $$->rhs = mk(p, ND_NAME, @3); $$->rhs->name = $3;
      }
    ;

subscript
    : testlist                            { $$ = $1; }
    | opt_test ':' opt_test               {
          $$ = mk(p, ND_SLICE, @$); $$->lhs = $<node>1; $$->rhs = $<node>3;
      }
    | opt_test ':' opt_test ':' opt_test  {
          $$ = mk(p, ND_SLICE, @$); $$->lhs = $<node>1; $$->rhs = $<node>3; $$->cond = $<node>5;
      }
    ;

opt_test
    : %empty                              { $<node>$ = NULL; }
    | test                                { $<node>$ = $1; }
    ;

atom
    : NAME                                { $$ = mk(p, ND_NAME, @$); $$->name = $1; }
    | INT                                 { $$ = mk(p, ND_INT, @$); $$->ival = $1; }
    | FLOAT                               { $$ = mk(p, ND_FLOAT, @$); $$->fval = $1; }
    | strings                             { $$ = $1; }
    | NONE                                { $$ = mk(p, ND_NONE, @$); }
    | TRUE                                { $$ = mk(p, ND_TRUE, @$); }
    | FALSE                               { $$ = mk(p, ND_FALSE, @$); }
    | '(' ')'                             { $$ = mk(p, ND_TUPLE, @$); }
    | '(' testlist ')' {
          $$ = $2;
          if ($$->kind == ND_COMPARE) $$->dots = 1;     // parenthesised: no chaining
          if ($$->kind == ND_TUPLE) $$->span = S(p, @$);
      }
    | '(' test comp_for ')' {
          error_at(p->c, S(p, @$), "generator expressions are not supported; use a list comprehension [...]");
          $$ = mk(p, ND_NONE, @$);
      }
    | '[' ']'                             { $$ = mk(p, ND_LIST, @$); }
    | '[' list_body ']'                   { $$ = $2; $$->span = S(p, @$); }
    | '{' '}'                             { $$ = mk(p, ND_DICT, @$); }
    | '{' dict_body '}'                   { $$ = $2; $$->span = S(p, @$); }
    | '(' error ')'                       { $$ = mk(p, ND_NONE, @$); }
    | '[' error ']'                       { $$ = mk(p, ND_NONE, @$); }
    ;

list_body
    : testlist_items opt_comma            { $$ = $1; $$->kind = ND_LIST; }
    | test comp_for                       { $$ = $2; $$->lhs = $1; }
    ;

comp_for
    : FOR exprlist IN or_test comp_tail {
          $$ = mk(p, ND_LISTCOMP, @$); $$->target = $2; $$->iter = $4; $$->cond = $5;
      }
    ;

comp_tail
    : %empty                              { $$ = NULL; }
    | comp_tail IF or_test {
          if (!$1) $$ = $3;
          else { $$ = mk(p, ND_AND, @$); $$->lhs = $1; $$->rhs = $3; }
      }
    ;

dict_body
    : dict_items opt_comma                { $$ = $1; }
    ;

dict_items
    : test ':' test                       { $$ = mk(p, ND_DICT, @$); push(p, $$, $1); push(p, $$, $3); }
    | dict_items ',' test ':' test        { $$ = push(p, push(p, $1, $3), $5); }
    ;

strings
    : STRING {
          $$ = mk(p, ND_STR, @$); $$->str = $1.s; $$->slen = $1.n;
      }
    | FSTRING {
          $$ = mk(p, ND_FSTR, @$); $$->str = $1.s; $$->slen = $1.n; $$->ival = $1.body_off;
      }
    | strings STRING {
          if ($1->kind == ND_FSTR) {
              error_at(p->c, S(p, @$), "implicit concatenation with an f-string is not supported");
              $$ = $1;
          } else {
              char *s = arena_alloc(p->c->arena, $1->slen + $2.n + 1);
              memcpy(s, $1->str, $1->slen);
              memcpy(s + $1->slen, $2.s, $2.n);
              $$ = $1; $$->str = s; $$->slen += $2.n; $$->span = S(p, @$);
          }
      }
    | strings FSTRING {
          error_at(p->c, S(p, @$), "implicit concatenation with an f-string is not supported");
          $$ = $1;
      }
    ;

arglist
    : args opt_comma                      { $$ = $1; }
    ;

args
    : arg                                 { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); }
    | args ',' arg                        { $$ = push(p, $1, $3); }
    ;

arg
    : test                                { $$ = $1; }
    | NAME '=' test                       { $$ = mk(p, ND_KWARG, @$); $$->name = $1; $$->rhs = $3; }
    | '*' test                            { $$ = mk(p, ND_STARRED, @$); $$->lhs = $2; }
    | POW test                            { $$ = mk(p, ND_DSTAR, @$); $$->lhs = $2; }
    ;

%%

// ---- the token filter: NEWLINE / INDENT / DEDENT -----------------------

// Indentation of the line holding byte `off` (relative to the scanned text),
// measured with tab stops of 8 and of 1.
static void measure_indent(Parser *p, int off, int *w8, int *w1) {
    const char *text = p->file->text;
    int abs = off;
    int ls = abs;
    while (ls > 0 && text[ls - 1] != '\n')
        ls--;
    int c8 = 0, c1 = 0;
    for (int i = ls; i < abs; i++) {
        if (text[i] == '\t') {
            c8 = (c8 / 8 + 1) * 8;
            c1++;
        } else if (text[i] == ' ') {
            c8++;
            c1++;
        } else if (text[i] == '\f') {
            c8 = c1 = 0;
        } else {
            break;
        }
    }
    *w8 = c8;
    *w1 = c1;
}

static int raw_next(Parser *p, YYSTYPE *lval, YYLTYPE *lloc) {
    int t = raw_lex(lval, lloc, p->scanner);
    if (t == 0) {
        lloc->start = lloc->end = p->base + p->off;
    }
    return t;
}

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p) {
    if (!p->started) {
        p->started = true;
        p->at_bol = true;
        lloc->start = lloc->end = p->base;
        return p->start_token;
    }
    if (p->pending_dedents > 0) {
        p->pending_dedents--;
        *lloc = p->held_loc;
        lloc->end = lloc->start;
        p->last = TK_DEDENT;
        return TK_DEDENT;
    }
    int t;
    if (p->have_held) {
        p->have_held = false;
        *lval = *p->held_val_p;
        *lloc = p->held_loc;
        t = p->held_tok;
        p->last = t;
        return t;
    }
    for (;;) {
        t = raw_next(p, lval, lloc);
        if (t == TK_NEWLINE) {
            // Collapse blank lines; a logical line ends only after a token.
            if (p->last == TK_NEWLINE || p->last == 0 || p->last == TK_INDENT ||
                p->last == TK_DEDENT || p->at_bol)
                continue;
            p->at_bol = true;
            p->last = TK_NEWLINE;
            return TK_NEWLINE;
        }
        break;
    }
    if (t == 0) {
        // End of input: close the last line, then every open block.
        if (!p->eof_done) {
            p->eof_done = true;
            if (p->last != TK_NEWLINE && p->last != 0 && p->last != TK_DEDENT &&
                p->last != TK_INDENT && !p->at_bol && p->start_token == TK_START_FILE) {
                p->at_bol = true;
                p->last = TK_NEWLINE;
                p->held_loc = *lloc;
                p->pending_dedents = p->nindent;
                p->nindent = 0;
                return TK_NEWLINE;
            }
            if (p->nindent > 0) {
                p->held_loc = *lloc;
                p->pending_dedents = p->nindent - 1;
                p->nindent = 0;
                p->last = TK_DEDENT;
                return TK_DEDENT;
            }
        }
        p->last = 0;
        return 0;
    }
    if (!p->at_bol || p->start_token != TK_START_FILE) {
        p->last = t;
        return t;
    }
    // First token of a logical line: compare its indentation with the stack.
    p->at_bol = false;
    int w8, w1;
    measure_indent(p, lloc->start - p->base, &w8, &w1);
    int top8 = p->nindent ? p->indent8[p->nindent - 1] : 0;
    int top1 = p->nindent ? p->indent1[p->nindent - 1] : 0;
    Span at = {p->file, lloc->start, lloc->start + 1};
    if ((w8 > top8) != (w1 > top1) || (w8 == top8) != (w1 == top1)) {
        error_at(p->c, at, "inconsistent use of tabs and spaces in indentation");
        p->lex_errors++;
    }
    if (w8 == top8) {
        p->last = t;
        return t;
    }
    // Hold the real token; hand out INDENT or DEDENTs first.
    static YYSTYPE held_storage_unused;
    (void)held_storage_unused;
    if (!p->held_val_p)
        p->held_val_p = arena_alloc(p->c->arena, sizeof(YYSTYPE));
    *p->held_val_p = *lval;
    p->held_loc = *lloc;
    p->held_tok = t;
    p->have_held = true;
    if (w8 > top8) {
        if (p->nindent == MAX_INDENT) {
            error_at(p->c, at, "too many levels of indentation (at most %d)", MAX_INDENT);
            p->lex_errors++;
            p->have_held = false;
            p->last = t;
            return t;
        }
        p->indent8[p->nindent] = w8;
        p->indent1[p->nindent] = w1;
        p->nindent++;
        lloc->end = lloc->start;
        p->last = TK_INDENT;
        return TK_INDENT;
    }
    int n = 0;
    while (p->nindent > 0 && p->indent8[p->nindent - 1] > w8) {
        p->nindent--;
        n++;
    }
    int now = p->nindent ? p->indent8[p->nindent - 1] : 0;
    if (now != w8) {
        error_at(p->c, at, "unindent does not match any outer indentation level");
        p->lex_errors++;
    }
    p->pending_dedents = n - 1;
    lloc->end = lloc->start;
    p->last = TK_DEDENT;
    return TK_DEDENT;
}

static void yyerror(YYLTYPE *lloc, Parser *p, const char *msg) {
    Span s = S(p, *lloc);
    if (s.end == s.start)
        s.end = s.start + 1;
    if (!strncmp(msg, "syntax error, ", 14))
        msg += 14;
    // "unexpected indent" reads better than the token name alone.
    error_at(p->c, s, "invalid syntax: %s", msg);
}

// ---- entry points -------------------------------------------------------

#include "lexer.h"

static Node *run(Ctx *c, SrcFile *f, const char *text, size_t len, int base, int start) {
    Parser p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.file = f;
    p.base = base;
    p.start_token = start;
    yyscan_t scanner;
    if (kdlyylex_init_extra(&p, &scanner))
        die("cannot initialise the scanner");
    p.scanner = scanner;
    YY_BUFFER_STATE buf = kdlyy_scan_bytes(text, (int)len, scanner);
    int before = c->nerrors;
    int rc = yyparse(&p);
    kdlyy_delete_buffer(buf, scanner);
    kdlyylex_destroy(scanner);
    if (rc != 0 || c->nerrors != before || p.lex_errors)
        return NULL;
    return p.result;
}

Node *parse_file(Ctx *c, SrcFile *f) {
    return run(c, f, f->text, f->len, 0, TK_START_FILE);
}

Node *parse_expr_text(Ctx *c, SrcFile *f) {
    return run(c, f, f->text, f->len, 0, TK_START_EXPR);
}

// Parse `len` bytes of f's text starting at `off` as one expression (an
// f-string field); spans point into f.
Node *parse_expr_at(Ctx *c, SrcFile *f, int off, int len) {
    return run(c, f, f->text + off, (size_t)len, off, TK_START_EXPR);
}

void dump_tokens(Ctx *c, SrcFile *f, FILE *out) {
    Parser p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.file = f;
    p.start_token = TK_START_FILE;
    yyscan_t scanner;
    if (kdlyylex_init_extra(&p, &scanner))
        die("cannot initialise the scanner");
    p.scanner = scanner;
    YY_BUFFER_STATE buf = kdlyy_scan_bytes(f->text, (int)f->len, scanner);
    YYSTYPE val;
    YYLTYPE loc;
    yylex(&val, &loc, &p);   // the synthetic start token
    for (;;) {
        int t = yylex(&val, &loc, &p);
        int line, col;
        src_line_col(f, loc.start, &line, &col);
        if (t == 0) {
            fprintf(out, "%d:%d EOF\n", line, col);
            break;
        }
        const char *name = yysymbol_name(YYTRANSLATE(t));
        fprintf(out, "%d:%d %s", line, col, name);
        if (t == TK_NAME)
            fprintf(out, " %s", val.str);
        else if (t == TK_INT)
            fprintf(out, " %lld", (long long)val.ival);
        else if (t == TK_FLOAT)
            fprintf(out, " %g", val.fval);
        else if (t == TK_STRING || t == TK_FSTRING)
            fprintf(out, " %s", py_repr_str(c->arena, val.s.s));
        fputc('\n', out);
    }
    kdlyy_delete_buffer(buf, scanner);
    kdlyylex_destroy(scanner);
}
