/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison interface for Yacc-like parsers in C

   Copyright (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation,
   Inc.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.

   This program is distributed in the hope that it will be useful,
   but WITHOUT ANY WARRANTY; without even the implied warranty of
   MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
   GNU General Public License for more details.

   You should have received a copy of the GNU General Public License
   along with this program.  If not, see <https://www.gnu.org/licenses/>.  */

/* As a special exception, you may create a larger work that contains
   part or all of the Bison parser skeleton and distribute that work
   under terms of your choice, so long as that work isn't itself a
   parser generator using the skeleton or a modified version thereof
   as a parser skeleton.  Alternatively, if you modify or redistribute
   the parser skeleton itself, you may (at your option) remove this
   special exception, which will cause the skeleton and the resulting
   Bison output files to be licensed under the GNU General Public
   License without this special exception.

   This special exception was added by the Free Software Foundation in
   version 2.2 of Bison.  */

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

#ifndef YY_YY_BUILD_NOBLAS_PARSER_H_INCLUDED
# define YY_YY_BUILD_NOBLAS_PARSER_H_INCLUDED
/* Debug traces.  */
#ifndef YYDEBUG
# define YYDEBUG 0
#endif
#if YYDEBUG
extern int yydebug;
#endif
/* "%code requires" blocks.  */
#line 30 "compiler/parser.y"

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

#line 83 "build-noblas/parser.h"

/* Token kinds.  */
#ifndef YYTOKENTYPE
# define YYTOKENTYPE
  enum yytokentype
  {
    TK_YYEMPTY = -2,
    TK_YYEOF = 0,                  /* "end of file"  */
    TK_YYerror = 256,              /* error  */
    TK_YYUNDEF = 257,              /* "invalid token"  */
    TK_START_FILE = 258,           /* START_FILE  */
    TK_START_EXPR = 259,           /* START_EXPR  */
    TK_NEWLINE = 260,              /* "end of line"  */
    TK_INDENT = 261,               /* "indent"  */
    TK_DEDENT = 262,               /* "unindent"  */
    TK_NAME = 263,                 /* "name"  */
    TK_INT = 264,                  /* "integer"  */
    TK_FLOAT = 265,                /* "float"  */
    TK_STRING = 266,               /* "string"  */
    TK_FSTRING = 267,              /* "f-string"  */
    TK_IMPORT = 268,               /* "import"  */
    TK_FROM = 269,                 /* "from"  */
    TK_AS = 270,                   /* "as"  */
    TK_DEF = 271,                  /* "def"  */
    TK_CLASS = 272,                /* "class"  */
    TK_RETURN = 273,               /* "return"  */
    TK_FOR = 274,                  /* "for"  */
    TK_IN = 275,                   /* "in"  */
    TK_IF = 276,                   /* "if"  */
    TK_ELIF = 277,                 /* "elif"  */
    TK_ELSE = 278,                 /* "else"  */
    TK_PASS = 279,                 /* "pass"  */
    TK_AND = 280,                  /* "and"  */
    TK_OR = 281,                   /* "or"  */
    TK_NOT = 282,                  /* "not"  */
    TK_NONE = 283,                 /* "None"  */
    TK_TRUE = 284,                 /* "True"  */
    TK_FALSE = 285,                /* "False"  */
    TK_WHILE = 286,                /* "while"  */
    TK_BREAK = 287,                /* "break"  */
    TK_CONTINUE = 288,             /* "continue"  */
    TK_IS = 289,                   /* "is"  */
    TK_ASSERT = 290,               /* "assert"  */
    TK_UNSUPPORTED = 291,          /* "unsupported keyword"  */
    TK_POW = 292,                  /* "**"  */
    TK_FLOORDIV = 293,             /* "//"  */
    TK_EQ = 294,                   /* "=="  */
    TK_NE = 295,                   /* "!="  */
    TK_LE = 296,                   /* "<="  */
    TK_GE = 297,                   /* ">="  */
    TK_ARROW = 298,                /* "->"  */
    TK_AUGASSIGN = 299             /* "augmented assignment"  */
  };
  typedef enum yytokentype yytoken_kind_t;
#endif

/* Value type.  */
#if ! defined YYSTYPE && ! defined YYSTYPE_IS_DECLARED
union YYSTYPE
{
#line 68 "compiler/parser.y"

    Node *node;
    const char *str;
    int64_t ival;
    double fval;
    int op;
    struct { const char *s; size_t n; int body_off; } s;

#line 153 "build-noblas/parser.h"

};
typedef union YYSTYPE YYSTYPE;
# define YYSTYPE_IS_TRIVIAL 1
# define YYSTYPE_IS_DECLARED 1
#endif

/* Location type.  */
typedef Loc YYLTYPE;




int yyparse (Parser *p);

/* "%code provides" blocks.  */
#line 64 "compiler/parser.y"

int raw_lex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);

#line 174 "build-noblas/parser.h"

#endif /* !YY_YY_BUILD_NOBLAS_PARSER_H_INCLUDED  */
