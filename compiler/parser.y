/*
 * parser.y - the .kdl grammar: the part of Python that model-building code
 * uses. Actions only build the AST (ast.c); meaning is given by eval.c.
 *
 * Tokens come through yylex(), a filter over the raw scanner (lexer.l) that
 * turns its newlines into Python's NEWLINE / INDENT / DEDENT stream:
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
 * NEWLINE, so independent syntax errors are all reported. The filter keeps
 * one mistake from turning into many:
 *   - an indented line after a line that is not a block header is reported
 *     once ("unexpected indent") and then parsed at the outer level;
 *   - the indented body after a line that already had an error is skipped;
 *   - an unclosed bracket is reported where it was opened, at the end of
 *     input or when a statement keyword (def, class, import, ...) starts a
 *     line at or left of the bracket's line: the statement is closed there,
 *     so the rest of the file is still parsed;
 *   - a syntax error on a logical line that already had a lexical error is
 *     not reported (it is a consequence).
 * After the parse, check_stmts() reports break/continue outside loops and
 * return outside functions, as Python's compiler does.
 */
%define api.pure full
%define api.token.prefix {TK_}
%define api.location.type {Loc}
%define parse.error detailed
%locations
%expect 0
%param {Parser *p}

%code top {
// Long right-recursive chains (`- - - x`, `not not x`) stack one state per
// operator before anything is reduced; allow enough for mk() to reject them
// as too deep, so the rest of the file is still parsed.
#define YYMAXDEPTH 100000
}

%code requires {
#include "kdlc.h"

// A location: byte offsets, plus the nesting depth of the phrase (how many
// non-trivial productions are stacked under it), used to reject expressions
// nested so deeply that evaluating them could exhaust the C stack.
typedef struct Loc {
    int start, end;
    int depth;
} Loc;

#define MAX_INDENT 100      // Python's limit on indentation levels
#define MAX_NEST 200        // Python's limit on nested brackets
#define MAX_EXPR_DEPTH 500  // nesting of one expression (eval.c's limit too)

typedef struct Parser {
    Ctx *c;
    SrcFile *file;
    void *scanner;
    int base;               // added to scanner offsets (f-string fields)
    int off;                // scanner's running offset
    int scan_end;           // offset just past the scanned text
    int lex_errors;
    // brackets (lexer.l): the open ones, innermost last
    char br_ch[MAX_NEST];
    int br_off[MAX_NEST];
    int nbr;
    int br_over;            // brackets past MAX_NEST (reported once)
    int br_err_nl;          // logical line of the last bracket error (-1: none)
    // token filter state (yylex)
    int start_token;        // TK_START_FILE or TK_START_EXPR, sent first
    bool started;
    int indent8[MAX_INDENT], indent1[MAX_INDENT];
    bool phantom[MAX_INDENT];   // an unexpected indent: no INDENT/DEDENT for it
    int nindent;
    bool at_bol;            // next token starts a logical line
    int last;               // last token handed to the parser by the filter
    int pending_dedents;
    int held_tok;           // a token read ahead while emitting INDENT/DEDENT
    bool have_held;
    union YYSTYPE *held_val_p;
    Loc held_loc;
    int pb_tok;             // a raw token pushed back (read again next)
    bool have_pb;
    union YYSTYPE *pb_val_p;
    Loc pb_loc;
    bool inject_newline;    // end the current statement before the pushed-back token
    bool eof_done;
    // error bookkeeping
    int tok[4];             // the last tokens handed to the parser, newest first
    union YYSTYPE *last_val_p;
    Loc last_loc;
    int nl_count;           // NEWLINEs handed to the parser (logical line index)
    int lex_err_nl;         // logical line of the last lexical error (-1: none)
    int syn_err_nl;         // logical line of the last syntax error (-1: none)
    int line_tok, line_off; // first token of the current logical line
    int prev_line_tok, prev_line_off;
    bool in_recovery;       // after a syntax error, until the next NEWLINE
    int try_nl;             // logical line of the last unsupported try/except/finally
    bool deep_reported;     // an expression was too deep: deep_at
    Loc deep_at;
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

// A phrase spans its parts; its depth is its deepest part's, plus one if
// the production has more than one symbol (chains of single-symbol
// reductions like atom -> power -> factor add nothing).
#define YYLLOC_DEFAULT(Cur, Rhs, N)                          \
    do {                                                     \
        if (N) {                                             \
            (Cur).start = YYRHSLOC(Rhs, 1).start;            \
            (Cur).end = YYRHSLOC(Rhs, N).end;                \
            (Cur).depth = 0;                                 \
            for (int i_ = 1; i_ <= (N); i_++)                \
                if (YYRHSLOC(Rhs, i_).depth > (Cur).depth)   \
                    (Cur).depth = YYRHSLOC(Rhs, i_).depth;   \
            (Cur).depth += (N) > 1;                          \
        } else {                                             \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;  \
            (Cur).depth = 0;                                 \
        }                                                    \
    } while (0)

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p);
static void yyerror(YYLTYPE *lloc, Parser *p, const char *msg);

static Span S(Parser *p, Loc l) {
    return (Span){p->file, l.start, l.end};
}
static Node *mk(Parser *p, NodeKind k, Loc l) {
    // Reported once per expression: not again for the nodes enclosing it.
    if (k < ND_EXPR_STMT && l.depth > MAX_EXPR_DEPTH &&
        !(p->deep_reported && l.start <= p->deep_at.start && l.end >= p->deep_at.end)) {
        p->deep_reported = true;
        p->deep_at = l;
        error_at(p->c, S(p, l), "expression nested too deeply (more than %d levels)",
                 MAX_EXPR_DEPTH);
    }
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

// Items of a comma list are side by side: the list is as deep as its
// deepest item, however many there are.
#define LIST_DEPTH(cur, a, b) ((cur).depth = (a).depth > (b).depth ? (a).depth : (b).depth)

// Statements joined with ';' come as an ND_BLOCK; they are spliced into the
// enclosing block so a class body or a file sees them one by one.
static Node *add_stmt(Parser *p, Node *block, Node *stmt) {
    if (!stmt)
        return block;
    if (stmt->kind == ND_BLOCK) {
        for (int i = 0; i < stmt->items.len; i++)
            push(p, block, stmt->items.data[i]);
    } else {
        push(p, block, stmt);
    }
    return block;
}

// What an expression is called in "cannot assign to ..." (Python's words).
static const char *target_what(const Node *t) {
    switch (t->kind) {
    case ND_CALL: return "function call";
    case ND_INT: case ND_FLOAT: case ND_STR: return "literal";
    case ND_FSTR: return "f-string expression";
    case ND_NONE: return "None";
    case ND_TRUE: return "True";
    case ND_FALSE: return "False";
    case ND_COMPARE: return "comparison";
    case ND_IFEXP: return "conditional expression";
    case ND_LISTCOMP: return "list comprehension";
    case ND_DICT: return "dict literal";
    case ND_TUPLE: return "tuple";
    case ND_LIST: return "list";
    default: return "expression";
    }
}

// Did this logical line have a lexical error? Then what the parser sees is
// missing tokens, and checks of what it built would only add noise.
static bool line_lex_error(Parser *p) {
    return p->lex_err_nl == p->nl_count - (p->tok[0] == TK_NEWLINE);
}

// Assignment targets: names, attributes, subscripts, and (not for augmented
// assignment) tuples and lists of targets.
static void check_target(Parser *p, Node *t, bool aug);

// The target of `target = value`: as check_target, with Python's hint when
// the whole target looks like the left side of a comparison.
static void check_assign_target(Parser *p, Node *t) {
    if (line_lex_error(p))
        return;
    switch (t->kind) {
    case ND_CALL: case ND_INT: case ND_FLOAT: case ND_STR: case ND_FSTR: case ND_BINOP:
    case ND_UNARY: case ND_AND: case ND_OR: case ND_NOT: case ND_LISTCOMP: case ND_DICT:
        error_at(p->c, t->span, "cannot assign to %s here. Maybe you meant '==' instead of '='?",
                 target_what(t));
        return;
    default:
        check_target(p, t, false);
    }
}

static void check_target(Parser *p, Node *t, bool aug) {
    if (line_lex_error(p))
        return;
    switch (t->kind) {
    case ND_NAME: case ND_ATTR: case ND_INDEX:
        return;
    case ND_TUPLE: case ND_LIST:
        if (!aug) {
            for (int i = 0; i < t->items.len; i++)
                check_target(p, t->items.data[i], false);
            return;
        }
        break;
    default:
        break;
    }
    if (aug)
        error_at(p->c, t->span, "'%s' is an illegal expression for augmented assignment",
                 target_what(t));
    else
        error_at(p->c, t->span, "cannot assign to %s", target_what(t));
}

static void check_annotated(Parser *p, Node *t) {
    if (t->kind == ND_TUPLE || t->kind == ND_LIST)
        error_at(p->c, t->span, "only single target (not %s) can be annotated",
                 t->kind == ND_TUPLE ? "tuple" : "list");
    else
        check_target(p, t, false);
}

// Parameter lists, as Python's compiler checks them.
static void check_params(Parser *p, Node *params) {
    bool dflt = false, star = false, dstar = false;
    if (line_lex_error(p))
        return;
    for (int i = 0; i < params->items.len; i++) {
        Node *a = params->items.data[i];
        for (int k = 0; k < i; k++)
            if (!strcmp(((Node *)params->items.data[k])->name, a->name) && strcmp(a->name, "*")) {
                error_at(p->c, a->span, "duplicate argument '%s' in function definition", a->name);
                break;
            }
        if (dstar) {
            error_at(p->c, a->span, "arguments cannot follow var-keyword argument");
            return;
        }
        if (a->param_kind == 1) {
            if (star) {
                error_at(p->c, a->span, "* argument may appear only once");
                return;
            }
            star = true;
            bool named = false;
            for (int k = i + 1; k < params->items.len; k++)
                named |= ((Node *)params->items.data[k])->param_kind == 0;
            if (!strcmp(a->name, "*") && !named) {
                error_at(p->c, a->span, "named arguments must follow bare *");
                return;
            }
        } else if (a->param_kind == 2) {
            dstar = true;
        } else if (a->dflt) {
            dflt = true;
        } else if (dflt && !star) {
            error_at(p->c, a->span, "non-default argument follows default argument");
            return;
        }
    }
}

// Call arguments: positional ones first, then keywords; no keyword twice.
static void check_args(Parser *p, Node *args) {
    bool kw = false, dstar = false;
    if (line_lex_error(p))
        return;
    for (int i = 0; i < args->items.len; i++) {
        Node *a = args->items.data[i];
        if (a->kind == ND_KWARG) {
            kw = true;
            for (int k = 0; k < i; k++) {
                Node *b = args->items.data[k];
                if (b->kind == ND_KWARG && !strcmp(b->name, a->name)) {
                    error_at(p->c, a->span, "keyword argument repeated: %s", a->name);
                    break;
                }
            }
        } else if (a->kind == ND_DSTAR) {
            dstar = true;
        } else if (a->kind == ND_STARRED) {
            if (dstar) {
                error_at(p->c, a->span, "iterable argument unpacking follows keyword argument "
                         "unpacking");
                return;
            }
        } else if (dstar) {
            error_at(p->c, a->span, "positional argument follows keyword argument unpacking");
            return;
        } else if (kw) {
            error_at(p->c, a->span, "positional argument follows keyword argument");
            return;
        }
    }
}
}

%token START_FILE START_EXPR
%token NEWLINE "end of line" INDENT "indent" DEDENT "unindent"
%token <str> NAME "name"
%token <ival> INT "integer"
%token <fval> FLOAT "float"
%token <s> STRING "string" FSTRING "f-string"
%token IMPORT "'import'" FROM "'from'" AS "'as'" DEF "'def'" CLASS "'class'"
%token RETURN "'return'" FOR "'for'" IN "'in'" IF "'if'" ELIF "'elif'" ELSE "'else'"
%token PASS "'pass'" AND "'and'" OR "'or'" NOT "'not'" NONE "'None'" TRUE "'True'"
%token FALSE "'False'" WHILE "'while'" BREAK "'break'" CONTINUE "'continue'" IS "'is'"
%token ASSERT "'assert'" UNSUPPORTED "unsupported keyword"
%token POW "'**'" FLOORDIV "'//'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='" ARROW "'->'"
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
    : stmt                                { $$ = add_stmt(p, mk(p, ND_BLOCK, @$), $1); }
    | stmts stmt                          { $$ = add_stmt(p, $1, $2); $$->span.end = @2.end; }
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
          // `try` is reported once, not again for its except/finally clauses.
          const char *kw = p->file->text + @1.start;    // offsets are absolute
          int n = @1.end - @1.start;
          bool clause = (n == 6 && !strncmp(kw, "except", 6)) ||
                        (n == 7 && !strncmp(kw, "finally", 7));
          if (!clause || p->try_nl != p->nl_count - 1)
              error_at(p->c, S(p, @1), "'%.*s' is not supported in .kdl files", n, kw);
          if ((n == 3 && !strncmp(kw, "try", 3)) || clause)
              p->try_nl = p->nl_count;
          p->syn_err_nl = p->nl_count;    // its block, if any, is skipped
          YYERROR;
      }
    ;

expr_stmt
    : testlist                            { $$ = mk(p, ND_EXPR_STMT, @$); $$->lhs = $1; }
    | assign_chain testlist {
          $$ = $1; $$->rhs = $2; $$->span = S(p, @$);
      }
    | test AUGASSIGN testlist {
          check_target(p, $1, true);
          $$ = mk(p, ND_AUGASSIGN, @$); $$->op = $2; $$->lhs = $1; $$->rhs = $3;
      }
    | test ':' test {
          // `x: int`: an annotation only; nothing is bound.
          check_annotated(p, $1);
          $$ = mk(p, ND_PASS, @$);
      }
    | test ':' test '=' test {
          check_annotated(p, $1);
          $$ = mk(p, ND_ASSIGN, @$); push(p, $$, $1); $$->rhs = $5;
      }
    ;

// a = b = value: targets collected left to right.
assign_chain
    : testlist '=' {
          check_assign_target(p, $1);
          $$ = mk(p, ND_ASSIGN, @$); push(p, $$, $1);
      }
    | assign_chain testlist '='           { check_assign_target(p, $2); $$ = push(p, $1, $2); }
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
    | dotted_as_names ',' dotted_as_name  { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
    ;

dotted_as_name
    : dotted_name                         { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; }
    | dotted_name AS NAME                 { $$ = mk(p, ND_ALIAS, @$); $$->name = $1; $$->alias = $3; }
    ;

import_as_names
    : import_as_name                      { $$ = mk(p, ND_FROM_IMPORT, @$); push(p, $$, $1); }
    | import_as_names ',' import_as_name  { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
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
    | decorators decorator                { $$ = push(p, $1, $2); LIST_DEPTH(@$, @1, @2); }
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
    : FOR exprlist IN testlist block {
          check_target(p, $2, false);
          $$ = mk(p, ND_FOR, @$); $$->target = $2; $$->iter = $4; $$->body = $5;
      }
    | FOR exprlist IN testlist block ELSE block {
          check_target(p, $2, false);
          $$ = mk(p, ND_FOR, @$); $$->target = $2; $$->iter = $4; $$->body = $5; $$->orelse = $7;
      }
    ;

while_stmt
    : WHILE test block                    { $$ = mk(p, ND_WHILE, @$); $$->cond = $2; $$->body = $3; }
    | WHILE test block ELSE block {
          $$ = mk(p, ND_WHILE, @$); $$->cond = $2; $$->body = $3; $$->orelse = $5;
      }
    ;

def_stmt
    : DEF NAME '(' params ')' block {
          check_params(p, $4);
          $$ = mk(p, ND_DEF, @$); $$->name = $2; $$->items = $4->items; $$->body = $6;
          $$->lhs = mk(p, ND_NAME, @2); $$->lhs->name = $2;
      }
    | DEF NAME '(' params ')' ARROW test block {
          check_params(p, $4);
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
    | param_list ',' param                { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
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
          check_args(p, $4);
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
    | testlist_items ',' test             { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
    ;

// for-loop targets: no comparisons, so `in` ends them.
exprlist
    : exprlist_items                      { $$ = seq_or_single(p, $1, false, @$); }
    | exprlist_items ','                  { $$ = seq_or_single(p, $1, true, @$); }
    ;

exprlist_items
    : expr                                { $$ = mk(p, ND_TUPLE, @$); push(p, $$, $1); }
    | exprlist_items ',' expr             { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
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
    | comparison comp_op expr {
          LIST_DEPTH(@$, @1, @3);
          $$ = compare(p, $1, $2, $3, @$);
      }
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
    | atom_expr '(' arglist ')' {
          check_args(p, $3);
          $$ = mk(p, ND_CALL, @$); $$->fn = $1; $$->items = $3->items;
      }
    | atom_expr '(' test comp_for ')' {
          error_at(p->c, (Span){p->file, @3.start, @4.end},
                   "generator expressions are not supported; use a list comprehension [...]");
          $$ = mk(p, ND_CALL, @$); $$->fn = $1;
      }
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
          error_at(p->c, S(p, @$), "generator expressions are not supported; "
                   "use a list comprehension [...]");
          $$ = mk(p, ND_NONE, @$);
      }
    | '[' ']'                             { $$ = mk(p, ND_LIST, @$); }
    | '[' list_body ']'                   { $$ = $2; $$->span = S(p, @$); }
    | '{' '}'                             { $$ = mk(p, ND_DICT, @$); }
    | '{' dict_body '}'                   { $$ = $2; $$->span = S(p, @$); }
    ;

list_body
    : testlist_items opt_comma            { $$ = $1; $$->kind = ND_LIST; }
    | test comp_for                       { $$ = $2; $$->lhs = $1; }
    ;

comp_for
    : FOR exprlist IN or_test comp_tail {
          check_target(p, $2, false);
          $$ = mk(p, ND_LISTCOMP, @$); $$->target = $2; $$->iter = $4; $$->cond = $5;
      }
    ;

comp_tail
    : %empty                              { $$ = NULL; }
    | comp_tail IF or_test {
          if (!$1) $$ = $3;
          else { $$ = mk(p, ND_AND, @$); $$->lhs = $1; $$->rhs = $3; }
      }
    | comp_tail FOR exprlist IN or_test {
          error_at(p->c, S(p, @2), "a list comprehension with more than one 'for' is not "
                   "supported; use nested loops");
          $$ = $1;
      }
    ;

dict_body
    : dict_items opt_comma                { $$ = $1; }
    ;

dict_items
    : test ':' test                       { $$ = mk(p, ND_DICT, @$); push(p, $$, $1); push(p, $$, $3); }
    | dict_items ',' test ':' test {
          $$ = push(p, push(p, $1, $3), $5);
          LIST_DEPTH(@$, @1, @3); LIST_DEPTH(@$, @$, @5);
      }
    ;

strings
    : STRING {
          $$ = mk(p, ND_STR, @$); $$->str = $1.s; $$->slen = $1.n;
      }
    | FSTRING {
          $$ = mk(p, ND_FSTR, @$); $$->str = $1.s; $$->slen = $1.n; $$->ival = $1.body_off;
      }
    | strings STRING {
          // Adjacent literals are one string; with an f-string among them the
          // parts are joined with + (the f-string keeps its own spans).
          if ($1->kind == ND_STR) {
              char *s = arena_alloc(p->c->arena, $1->slen + $2.n + 1);
              memcpy(s, $1->str, $1->slen);
              memcpy(s + $1->slen, $2.s, $2.n);
              $$ = $1; $$->str = s; $$->slen += $2.n; $$->span = S(p, @$);
              @$.depth = 0;
          } else {
              Node *r = mk(p, ND_STR, @2); r->str = $2.s; r->slen = $2.n;
              $$ = binop(p, OP_ADD, $1, r, @$);
          }
      }
    | strings FSTRING {
          Node *r = mk(p, ND_FSTR, @2); r->str = $2.s; r->slen = $2.n; r->ival = $2.body_off;
          $$ = binop(p, OP_ADD, $1, r, @$);
      }
    ;

arglist
    : args opt_comma                      { $$ = $1; }
    ;

args
    : arg                                 { $$ = mk(p, ND_BLOCK, @$); push(p, $$, $1); }
    | args ',' arg                        { $$ = push(p, $1, $3); LIST_DEPTH(@$, @1, @3); }
    ;

arg
    : test                                { $$ = $1; }
    | NAME '=' test                       { $$ = mk(p, ND_KWARG, @$); $$->name = $1; $$->rhs = $3; }
    | '*' test                            { $$ = mk(p, ND_STARRED, @$); $$->lhs = $2; }
    | POW test                            { $$ = mk(p, ND_DSTAR, @$); $$->lhs = $2; }
    ;

%%

// ---- the token filter: NEWLINE / INDENT / DEDENT -----------------------

// Indentation of the line holding byte `off` (absolute), measured with tab
// stops of 8 and of 1; *first tells whether only blanks precede `off` on its
// line.
static void measure_indent(Parser *p, int off, int *w8, int *w1, bool *first) {
    const char *text = p->file->text;
    int ls = off;
    while (ls > 0 && text[ls - 1] != '\n')
        ls--;
    int c8 = 0, c1 = 0, i;
    for (i = ls; i < off; i++) {
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
    if (first)
        *first = i == off;
}

// The next raw token: a pushed-back one, or the scanner's.
static int raw_next(Parser *p, YYSTYPE *lval, YYLTYPE *lloc) {
    if (p->have_pb) {
        p->have_pb = false;
        *lval = *p->pb_val_p;
        *lloc = p->pb_loc;
        return p->pb_tok;
    }
    int t = raw_lex(lval, lloc, p->scanner);
    if (t == 0)
        lloc->start = lloc->end = p->base + p->off;
    lloc->depth = 0;
    return t;
}

static void push_back(Parser *p, int t, YYSTYPE *val, YYLTYPE *loc) {
    if (!p->pb_val_p)
        p->pb_val_p = arena_alloc(p->c->arena, sizeof(YYSTYPE));
    *p->pb_val_p = *val;
    p->pb_loc = *loc;
    p->pb_tok = t;
    p->have_pb = true;
}

// Keywords that only ever start a statement.
static bool stmt_keyword(int t) {
    switch (t) {
    case TK_DEF: case TK_CLASS: case TK_RETURN: case TK_IMPORT: case TK_FROM: case TK_PASS:
    case TK_BREAK: case TK_CONTINUE: case TK_ASSERT: case TK_WHILE: case TK_ELIF:
        return true;
    default:
        return false;
    }
}

// Token t at `off`, although brackets are open, starts a new statement: it
// is the first on its line, not right of the line where the outermost open
// bracket is, and a statement keyword. After a syntax error (`recovering`)
// any token but a closing bracket counts: a line that starts there is not a
// continuation line.
static bool closes_brackets(Parser *p, int t, int off, bool recovering) {
    if (p->nbr == 0 || t == ')' || t == ']' || t == '}' || !(recovering || stmt_keyword(t)))
        return false;
    int w8, w1, o8, o1;
    bool first;
    measure_indent(p, off, &w8, &w1, &first);
    measure_indent(p, p->br_off[0], &o8, &o1, NULL);
    return first && w8 <= o8;
}

// Report the innermost open bracket and forget them all.
static void never_closed(Parser *p) {
    if (p->nbr > 0) {
        int at = p->br_off[p->nbr - 1];
        error_at(p->c, (Span){p->file, at, at + 1}, "'%c' was never closed", p->br_ch[p->nbr - 1]);
        p->lex_errors++;
        p->lex_err_nl = p->nl_count;
    }
    p->nbr = 0;
    p->br_over = 0;
}

// The filter proper (yylex records what it returns).
static int next_token(YYSTYPE *lval, YYLTYPE *lloc, Parser *p) {
    if (!p->started) {
        p->started = true;
        p->at_bol = true;
        lloc->start = lloc->end = p->base;
        lloc->depth = 0;
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
    if (p->inject_newline) {
        p->inject_newline = false;
        *lloc = p->pb_loc;
        lloc->end = lloc->start;
        p->at_bol = true;
        p->last = TK_NEWLINE;
        return TK_NEWLINE;
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
        if (t && closes_brackets(p, t, lloc->start, p->in_recovery)) {
            // `x = f(1,` followed by `def g():`: the bracket was never closed.
            never_closed(p);
            push_back(p, t, lval, lloc);
            if (!p->at_bol && p->start_token == TK_START_FILE) {
                lloc->end = lloc->start;
                p->at_bol = true;
                p->last = TK_NEWLINE;
                return TK_NEWLINE;
            }
            continue;
        }
        break;
    }
    if (t == 0) {
        // End of input: report open brackets, close the last line, then
        // every open block.
        if (p->nbr > 0 || p->br_over > 0)
            never_closed(p);
        if (!p->eof_done) {
            p->eof_done = true;
            int real = 0;
            for (int i = 0; i < p->nindent; i++)
                real += !p->phantom[i];
            if (p->last != TK_NEWLINE && p->last != 0 && p->last != TK_DEDENT &&
                p->last != TK_INDENT && !p->at_bol && p->start_token == TK_START_FILE) {
                p->at_bol = true;
                p->last = TK_NEWLINE;
                p->held_loc = *lloc;
                p->pending_dedents = real;
                p->nindent = 0;
                return TK_NEWLINE;
            }
            p->nindent = 0;
            if (real > 0) {
                p->held_loc = *lloc;
                p->pending_dedents = real - 1;
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
    measure_indent(p, lloc->start, &w8, &w1, NULL);
    int top8 = p->nindent ? p->indent8[p->nindent - 1] : 0;
    int top1 = p->nindent ? p->indent1[p->nindent - 1] : 0;
    bool prev_bad = p->nl_count > 0 &&
                    (p->syn_err_nl == p->nl_count - 1 || p->lex_err_nl == p->nl_count - 1);
    if (w8 > top8 && prev_bad) {
        // The body of a statement that already had an error: skip it, up to
        // the first line that is not indented deeper.
        bool bol = false;
        for (;;) {
            t = raw_next(p, lval, lloc);
            if (t == 0)
                return next_token(lval, lloc, p);
            if (t == TK_NEWLINE) {
                bol = true;
                continue;
            }
            if (!bol)
                continue;
            bol = false;
            measure_indent(p, lloc->start, &w8, &w1, NULL);
            if (w8 <= top8)
                break;
        }
    }
    p->line_tok = t;
    p->line_off = lloc->start;
    Span at = {p->file, lloc->start, lloc->start + 1};
    if ((w8 > top8) != (w1 > top1) || (w8 == top8) != (w1 == top1)) {
        error_at(p->c, at, "inconsistent use of tabs and spaces in indentation");
        p->lex_errors++;
        p->lex_err_nl = p->nl_count;
    }
    if (w8 == top8) {
        p->last = t;
        return t;
    }
    if (w8 > top8) {
        if (p->nindent + 1 >= MAX_INDENT) {     // level 0 counts, as in Python
            error_at(p->c, at, "too many levels of indentation");
            p->lex_errors++;
            p->lex_err_nl = p->nl_count;
            p->last = t;
            return t;
        }
        // A block opens only after a line ending in ':'. Anything else is
        // reported once and parsed as if it were not indented.
        bool block = p->tok[0] == TK_NEWLINE && p->tok[1] == ':';
        if (!block) {
            error_at(p->c, at, "unexpected indent");
            p->lex_errors++;
            p->lex_err_nl = p->nl_count;
        }
        p->indent8[p->nindent] = w8;
        p->indent1[p->nindent] = w1;
        p->phantom[p->nindent] = !block;
        p->nindent++;
        if (!block) {
            p->last = t;
            return t;
        }
        // Hold the real token; hand out the INDENT first.
        if (!p->held_val_p)
            p->held_val_p = arena_alloc(p->c->arena, sizeof(YYSTYPE));
        *p->held_val_p = *lval;
        p->held_loc = *lloc;
        p->held_tok = t;
        p->have_held = true;
        lloc->end = lloc->start;
        p->last = TK_INDENT;
        return TK_INDENT;
    }
    int n = 0;
    while (p->nindent > 0 && p->indent8[p->nindent - 1] > w8) {
        p->nindent--;
        n += !p->phantom[p->nindent];
    }
    int now = p->nindent ? p->indent8[p->nindent - 1] : 0;
    if (now != w8) {
        error_at(p->c, at, "unindent does not match any outer indentation level");
        p->lex_errors++;
        p->lex_err_nl = p->nl_count;
    }
    if (n == 0) {
        p->last = t;
        return t;
    }
    // Hold the real token; hand out the DEDENTs first.
    if (!p->held_val_p)
        p->held_val_p = arena_alloc(p->c->arena, sizeof(YYSTYPE));
    *p->held_val_p = *lval;
    p->held_loc = *lloc;
    p->held_tok = t;
    p->have_held = true;
    p->pending_dedents = n - 1;
    lloc->end = lloc->start;
    p->last = TK_DEDENT;
    return TK_DEDENT;
}

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, Parser *p) {
    int t = next_token(lval, lloc, p);
    lloc->depth = 0;
    memmove(p->tok + 1, p->tok, sizeof p->tok - sizeof p->tok[0]);
    p->tok[0] = t;
    if (!p->last_val_p)
        p->last_val_p = arena_alloc(p->c->arena, sizeof(YYSTYPE));
    *p->last_val_p = *lval;
    p->last_loc = *lloc;
    if (t == TK_NEWLINE) {
        p->nl_count++;
        p->in_recovery = false;
        p->prev_line_tok = p->line_tok;
        p->prev_line_off = p->line_off;
    }
    return t;
}

// What Python calls the statement a block belongs to.
static const char *block_owner(int t) {
    switch (t) {
    case TK_DEF: return "function definition";
    case TK_CLASS: return "class definition";
    case TK_IF: return "'if' statement";
    case TK_ELIF: return "'elif' statement";
    case TK_ELSE: return "'else' statement";
    case TK_FOR: return "'for' statement";
    case TK_WHILE: return "'while' statement";
    default: return "statement";
    }
}

static void yyerror(YYLTYPE *lloc, Parser *p, const char *msg) {
    int t0 = p->tok[0];
    int cur = p->nl_count - (t0 == TK_NEWLINE);
    p->in_recovery = true;
    bool quiet = p->lex_err_nl == cur;      // a consequence of a lexical error
    p->syn_err_nl = cur;
    if (quiet)
        return;
    Span s = S(p, *lloc);
    if (s.end == s.start)
        s.end = s.start + 1;
    if (!strcmp(msg, "memory exhausted")) {
        error_at(p->c, s, "expression nested too deeply");
        return;
    }
    if (!strncmp(msg, "syntax error, ", 14))
        msg += 14;
    if (p->tok[1] == '.' && p->tok[2] == TK_FROM) {
        // `from . import x`: the relative-import rule reports it.
    } else if (t0 == TK_ELSE && p->try_nl == cur - 1) {
        // the else clause of an unsupported try statement
        p->try_nl = cur;
    } else if (t0 == TK_UNSUPPORTED) {
        error_at(p->c, s, "'%.*s' is not supported in .kdl files", lloc->end - lloc->start,
                 p->file->text + lloc->start);
    } else if (p->tok[1] == TK_NEWLINE && p->tok[2] == ':' && t0 != TK_INDENT) {
        int line, col;
        src_line_col(p->file, p->prev_line_off, &line, &col);
        error_at(p->c, s, "expected an indented block after %s on line %d",
                 block_owner(p->prev_line_tok), line);
    } else if (t0 && closes_brackets(p, t0, lloc->start, true)) {
        // `x = [a, b` then `for ...` on a line of its own: the bracket was
        // never closed. Close the statement and read the token again.
        never_closed(p);
        push_back(p, t0, p->last_val_p, &p->last_loc);
        p->inject_newline = true;
    } else {
        error_at(p->c, s, "invalid syntax: %s", msg);
    }
}

// ---- checks after parsing ------------------------------------------------

// break/continue outside a loop and return outside a function are syntax
// errors in Python, whether or not the code runs.
static void check_stmts(Ctx *c, Node *n, bool in_loop, bool in_func) {
    if (!n)
        return;
    switch (n->kind) {
    case ND_BLOCK:
        for (int i = 0; i < n->items.len; i++)
            check_stmts(c, n->items.data[i], in_loop, in_func);
        break;
    case ND_BREAK:
        if (!in_loop)
            error_at(c, n->span, "'break' outside loop");
        break;
    case ND_CONTINUE:
        if (!in_loop)
            error_at(c, n->span, "'continue' not properly in loop");
        break;
    case ND_RETURN:
        if (!in_func)
            error_at(c, n->span, "'return' outside function");
        break;
    case ND_IF:
        check_stmts(c, n->body, in_loop, in_func);
        check_stmts(c, n->orelse, in_loop, in_func);
        break;
    case ND_FOR: case ND_WHILE:
        check_stmts(c, n->body, true, in_func);
        check_stmts(c, n->orelse, in_loop, in_func);
        break;
    case ND_DEF:
        check_stmts(c, n->body, false, true);
        break;
    case ND_CLASS:
        check_stmts(c, n->body, false, false);
        break;
    case ND_DECORATED:
        check_stmts(c, n->lhs, in_loop, in_func);
        break;
    default:
        break;
    }
}

// ---- entry points -------------------------------------------------------

#include "lexer.h"

static void parser_init(Parser *p, Ctx *c, SrcFile *f, int base, size_t len, int start) {
    memset(p, 0, sizeof *p);
    p->scan_end = base + (int)len;
    p->c = c;
    p->file = f;
    p->base = base;
    p->start_token = start;
    p->lex_err_nl = p->syn_err_nl = p->try_nl = p->br_err_nl = -1;
}

static Node *run(Ctx *c, SrcFile *f, const char *text, size_t len, int base, int start) {
    Parser p;
    parser_init(&p, c, f, base, len, start);
    yyscan_t scanner;
    if (kdlyylex_init_extra(&p, &scanner))
        die("cannot initialise the scanner");
    p.scanner = scanner;
    YY_BUFFER_STATE buf = kdlyy_scan_bytes(text, (int)len, scanner);
    int before = c->nerrors;
    int rc = yyparse(&p);
    kdlyy_delete_buffer(buf, scanner);
    kdlyylex_destroy(scanner);
    if (rc == 0 && start == TK_START_FILE && p.result)
        check_stmts(c, p.result, false, false);
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

// The token stream the parser sees, one token per line: line:col, the
// token's name, and its value (names, numbers as Python's repr, strings
// decoded and quoted).
void dump_tokens(Ctx *c, SrcFile *f, FILE *out) {
    Parser p;
    parser_init(&p, c, f, 0, f->len, TK_START_FILE);
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
        if (t == TK_NAME) {
            fprintf(out, " %s", val.str);
        } else if (t == TK_INT) {
            fprintf(out, " %lld", (long long)val.ival);
        } else if (t == TK_FLOAT) {
            fprintf(out, " %s", value_repr(c, v_float(c, val.fval)));
        } else if (t == TK_STRING || t == TK_FSTRING) {
            fprintf(out, " %s", py_repr_str(c->arena, val.s.s));
        }
        fputc('\n', out);
    }
    kdlyy_delete_buffer(buf, scanner);
    kdlyylex_destroy(scanner);
}
