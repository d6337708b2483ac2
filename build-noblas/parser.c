/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison implementation for Yacc-like parsers in C

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

/* C LALR(1) parser skeleton written by Richard Stallman, by
   simplifying the original so-called "semantic" parser.  */

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

/* All symbols defined below should begin with yy or YY, to avoid
   infringing on user name space.  This should be done even for local
   variables, as they might otherwise be expanded by user macros.
   There are some unavoidable exceptions within include files to
   define necessary library symbols; they are noted "INFRINGES ON
   USER NAME SPACE" below.  */

/* Identify Bison output, and Bison version.  */
#define YYBISON 30802

/* Bison version string.  */
#define YYBISON_VERSION "3.8.2"

/* Skeleton name.  */
#define YYSKELETON_NAME "yacc.c"

/* Pure parsers.  */
#define YYPURE 2

/* Push parsers.  */
#define YYPUSH 0

/* Pull parsers.  */
#define YYPULL 1





# ifndef YY_CAST
#  ifdef __cplusplus
#   define YY_CAST(Type, Val) static_cast<Type> (Val)
#   define YY_REINTERPRET_CAST(Type, Val) reinterpret_cast<Type> (Val)
#  else
#   define YY_CAST(Type, Val) ((Type) (Val))
#   define YY_REINTERPRET_CAST(Type, Val) ((Type) (Val))
#  endif
# endif
# ifndef YY_NULLPTR
#  if defined __cplusplus
#   if 201103L <= __cplusplus
#    define YY_NULLPTR nullptr
#   else
#    define YY_NULLPTR 0
#   endif
#  else
#   define YY_NULLPTR ((void*)0)
#  endif
# endif

#include "parser.h"
/* Symbol kind.  */
enum yysymbol_kind_t
{
  YYSYMBOL_YYEMPTY = -2,
  YYSYMBOL_YYEOF = 0,                      /* "end of file"  */
  YYSYMBOL_YYerror = 1,                    /* error  */
  YYSYMBOL_YYUNDEF = 2,                    /* "invalid token"  */
  YYSYMBOL_START_FILE = 3,                 /* START_FILE  */
  YYSYMBOL_START_EXPR = 4,                 /* START_EXPR  */
  YYSYMBOL_NEWLINE = 5,                    /* "end of line"  */
  YYSYMBOL_INDENT = 6,                     /* "indent"  */
  YYSYMBOL_DEDENT = 7,                     /* "unindent"  */
  YYSYMBOL_NAME = 8,                       /* "name"  */
  YYSYMBOL_INT = 9,                        /* "integer"  */
  YYSYMBOL_FLOAT = 10,                     /* "float"  */
  YYSYMBOL_STRING = 11,                    /* "string"  */
  YYSYMBOL_FSTRING = 12,                   /* "f-string"  */
  YYSYMBOL_IMPORT = 13,                    /* "import"  */
  YYSYMBOL_FROM = 14,                      /* "from"  */
  YYSYMBOL_AS = 15,                        /* "as"  */
  YYSYMBOL_DEF = 16,                       /* "def"  */
  YYSYMBOL_CLASS = 17,                     /* "class"  */
  YYSYMBOL_RETURN = 18,                    /* "return"  */
  YYSYMBOL_FOR = 19,                       /* "for"  */
  YYSYMBOL_IN = 20,                        /* "in"  */
  YYSYMBOL_IF = 21,                        /* "if"  */
  YYSYMBOL_ELIF = 22,                      /* "elif"  */
  YYSYMBOL_ELSE = 23,                      /* "else"  */
  YYSYMBOL_PASS = 24,                      /* "pass"  */
  YYSYMBOL_AND = 25,                       /* "and"  */
  YYSYMBOL_OR = 26,                        /* "or"  */
  YYSYMBOL_NOT = 27,                       /* "not"  */
  YYSYMBOL_NONE = 28,                      /* "None"  */
  YYSYMBOL_TRUE = 29,                      /* "True"  */
  YYSYMBOL_FALSE = 30,                     /* "False"  */
  YYSYMBOL_WHILE = 31,                     /* "while"  */
  YYSYMBOL_BREAK = 32,                     /* "break"  */
  YYSYMBOL_CONTINUE = 33,                  /* "continue"  */
  YYSYMBOL_IS = 34,                        /* "is"  */
  YYSYMBOL_ASSERT = 35,                    /* "assert"  */
  YYSYMBOL_UNSUPPORTED = 36,               /* "unsupported keyword"  */
  YYSYMBOL_POW = 37,                       /* "**"  */
  YYSYMBOL_FLOORDIV = 38,                  /* "//"  */
  YYSYMBOL_EQ = 39,                        /* "=="  */
  YYSYMBOL_NE = 40,                        /* "!="  */
  YYSYMBOL_LE = 41,                        /* "<="  */
  YYSYMBOL_GE = 42,                        /* ">="  */
  YYSYMBOL_ARROW = 43,                     /* "->"  */
  YYSYMBOL_AUGASSIGN = 44,                 /* "augmented assignment"  */
  YYSYMBOL_45_ = 45,                       /* '+'  */
  YYSYMBOL_46_ = 46,                       /* '-'  */
  YYSYMBOL_47_ = 47,                       /* '*'  */
  YYSYMBOL_48_ = 48,                       /* '/'  */
  YYSYMBOL_49_ = 49,                       /* '%'  */
  YYSYMBOL_50_ = 50,                       /* '@'  */
  YYSYMBOL_51_ = 51,                       /* ';'  */
  YYSYMBOL_52_ = 52,                       /* ','  */
  YYSYMBOL_53_ = 53,                       /* '='  */
  YYSYMBOL_54_ = 54,                       /* '('  */
  YYSYMBOL_55_ = 55,                       /* ')'  */
  YYSYMBOL_56_ = 56,                       /* '.'  */
  YYSYMBOL_57_ = 57,                       /* ':'  */
  YYSYMBOL_58_ = 58,                       /* '<'  */
  YYSYMBOL_59_ = 59,                       /* '>'  */
  YYSYMBOL_60_ = 60,                       /* '['  */
  YYSYMBOL_61_ = 61,                       /* ']'  */
  YYSYMBOL_62_ = 62,                       /* '{'  */
  YYSYMBOL_63_ = 63,                       /* '}'  */
  YYSYMBOL_YYACCEPT = 64,                  /* $accept  */
  YYSYMBOL_top = 65,                       /* top  */
  YYSYMBOL_opt_newlines = 66,              /* opt_newlines  */
  YYSYMBOL_file = 67,                      /* file  */
  YYSYMBOL_stmts = 68,                     /* stmts  */
  YYSYMBOL_stmt = 69,                      /* stmt  */
  YYSYMBOL_simple_stmt = 70,               /* simple_stmt  */
  YYSYMBOL_small_stmt = 71,                /* small_stmt  */
  YYSYMBOL_expr_stmt = 72,                 /* expr_stmt  */
  YYSYMBOL_assign_chain = 73,              /* assign_chain  */
  YYSYMBOL_import_stmt = 74,               /* import_stmt  */
  YYSYMBOL_opt_comma = 75,                 /* opt_comma  */
  YYSYMBOL_dotted_as_names = 76,           /* dotted_as_names  */
  YYSYMBOL_dotted_as_name = 77,            /* dotted_as_name  */
  YYSYMBOL_import_as_names = 78,           /* import_as_names  */
  YYSYMBOL_import_as_name = 79,            /* import_as_name  */
  YYSYMBOL_dotted_name = 80,               /* dotted_name  */
  YYSYMBOL_compound_stmt = 81,             /* compound_stmt  */
  YYSYMBOL_decorators = 82,                /* decorators  */
  YYSYMBOL_decorator = 83,                 /* decorator  */
  YYSYMBOL_block = 84,                     /* block  */
  YYSYMBOL_suite = 85,                     /* suite  */
  YYSYMBOL_if_stmt = 86,                   /* if_stmt  */
  YYSYMBOL_elif_tail = 87,                 /* elif_tail  */
  YYSYMBOL_for_stmt = 88,                  /* for_stmt  */
  YYSYMBOL_while_stmt = 89,                /* while_stmt  */
  YYSYMBOL_def_stmt = 90,                  /* def_stmt  */
  YYSYMBOL_params = 91,                    /* params  */
  YYSYMBOL_param_list = 92,                /* param_list  */
  YYSYMBOL_param = 93,                     /* param  */
  YYSYMBOL_class_stmt = 94,                /* class_stmt  */
  YYSYMBOL_testlist = 95,                  /* testlist  */
  YYSYMBOL_testlist_items = 96,            /* testlist_items  */
  YYSYMBOL_exprlist = 97,                  /* exprlist  */
  YYSYMBOL_exprlist_items = 98,            /* exprlist_items  */
  YYSYMBOL_test = 99,                      /* test  */
  YYSYMBOL_or_test = 100,                  /* or_test  */
  YYSYMBOL_and_test = 101,                 /* and_test  */
  YYSYMBOL_not_test = 102,                 /* not_test  */
  YYSYMBOL_comparison = 103,               /* comparison  */
  YYSYMBOL_comp_op = 104,                  /* comp_op  */
  YYSYMBOL_expr = 105,                     /* expr  */
  YYSYMBOL_factor = 106,                   /* factor  */
  YYSYMBOL_power = 107,                    /* power  */
  YYSYMBOL_atom_expr = 108,                /* atom_expr  */
  YYSYMBOL_subscript = 109,                /* subscript  */
  YYSYMBOL_opt_test = 110,                 /* opt_test  */
  YYSYMBOL_atom = 111,                     /* atom  */
  YYSYMBOL_list_body = 112,                /* list_body  */
  YYSYMBOL_comp_for = 113,                 /* comp_for  */
  YYSYMBOL_comp_tail = 114,                /* comp_tail  */
  YYSYMBOL_dict_body = 115,                /* dict_body  */
  YYSYMBOL_dict_items = 116,               /* dict_items  */
  YYSYMBOL_strings = 117,                  /* strings  */
  YYSYMBOL_arglist = 118,                  /* arglist  */
  YYSYMBOL_args = 119,                     /* args  */
  YYSYMBOL_arg = 120                       /* arg  */
};
typedef enum yysymbol_kind_t yysymbol_kind_t;



/* Unqualified %code blocks.  */
#line 77 "compiler/parser.y"

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

#line 280 "build-noblas/parser.c"

#ifdef short
# undef short
#endif

/* On compilers that do not define __PTRDIFF_MAX__ etc., make sure
   <limits.h> and (if available) <stdint.h> are included
   so that the code can choose integer types of a good width.  */

#ifndef __PTRDIFF_MAX__
# include <limits.h> /* INFRINGES ON USER NAME SPACE */
# if defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stdint.h> /* INFRINGES ON USER NAME SPACE */
#  define YY_STDINT_H
# endif
#endif

/* Narrow types that promote to a signed type and that can represent a
   signed or unsigned integer of at least N bits.  In tables they can
   save space and decrease cache pressure.  Promoting to a signed type
   helps avoid bugs in integer arithmetic.  */

#ifdef __INT_LEAST8_MAX__
typedef __INT_LEAST8_TYPE__ yytype_int8;
#elif defined YY_STDINT_H
typedef int_least8_t yytype_int8;
#else
typedef signed char yytype_int8;
#endif

#ifdef __INT_LEAST16_MAX__
typedef __INT_LEAST16_TYPE__ yytype_int16;
#elif defined YY_STDINT_H
typedef int_least16_t yytype_int16;
#else
typedef short yytype_int16;
#endif

/* Work around bug in HP-UX 11.23, which defines these macros
   incorrectly for preprocessor constants.  This workaround can likely
   be removed in 2023, as HPE has promised support for HP-UX 11.23
   (aka HP-UX 11i v2) only through the end of 2022; see Table 2 of
   <https://h20195.www2.hpe.com/V2/getpdf.aspx/4AA4-7673ENW.pdf>.  */
#ifdef __hpux
# undef UINT_LEAST8_MAX
# undef UINT_LEAST16_MAX
# define UINT_LEAST8_MAX 255
# define UINT_LEAST16_MAX 65535
#endif

#if defined __UINT_LEAST8_MAX__ && __UINT_LEAST8_MAX__ <= __INT_MAX__
typedef __UINT_LEAST8_TYPE__ yytype_uint8;
#elif (!defined __UINT_LEAST8_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST8_MAX <= INT_MAX)
typedef uint_least8_t yytype_uint8;
#elif !defined __UINT_LEAST8_MAX__ && UCHAR_MAX <= INT_MAX
typedef unsigned char yytype_uint8;
#else
typedef short yytype_uint8;
#endif

#if defined __UINT_LEAST16_MAX__ && __UINT_LEAST16_MAX__ <= __INT_MAX__
typedef __UINT_LEAST16_TYPE__ yytype_uint16;
#elif (!defined __UINT_LEAST16_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST16_MAX <= INT_MAX)
typedef uint_least16_t yytype_uint16;
#elif !defined __UINT_LEAST16_MAX__ && USHRT_MAX <= INT_MAX
typedef unsigned short yytype_uint16;
#else
typedef int yytype_uint16;
#endif

#ifndef YYPTRDIFF_T
# if defined __PTRDIFF_TYPE__ && defined __PTRDIFF_MAX__
#  define YYPTRDIFF_T __PTRDIFF_TYPE__
#  define YYPTRDIFF_MAXIMUM __PTRDIFF_MAX__
# elif defined PTRDIFF_MAX
#  ifndef ptrdiff_t
#   include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  endif
#  define YYPTRDIFF_T ptrdiff_t
#  define YYPTRDIFF_MAXIMUM PTRDIFF_MAX
# else
#  define YYPTRDIFF_T long
#  define YYPTRDIFF_MAXIMUM LONG_MAX
# endif
#endif

#ifndef YYSIZE_T
# ifdef __SIZE_TYPE__
#  define YYSIZE_T __SIZE_TYPE__
# elif defined size_t
#  define YYSIZE_T size_t
# elif defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  define YYSIZE_T size_t
# else
#  define YYSIZE_T unsigned
# endif
#endif

#define YYSIZE_MAXIMUM                                  \
  YY_CAST (YYPTRDIFF_T,                                 \
           (YYPTRDIFF_MAXIMUM < YY_CAST (YYSIZE_T, -1)  \
            ? YYPTRDIFF_MAXIMUM                         \
            : YY_CAST (YYSIZE_T, -1)))

#define YYSIZEOF(X) YY_CAST (YYPTRDIFF_T, sizeof (X))


/* Stored state numbers (used for stacks). */
typedef yytype_int16 yy_state_t;

/* State numbers in computations.  */
typedef int yy_state_fast_t;

#ifndef YY_
# if defined YYENABLE_NLS && YYENABLE_NLS
#  if ENABLE_NLS
#   include <libintl.h> /* INFRINGES ON USER NAME SPACE */
#   define YY_(Msgid) dgettext ("bison-runtime", Msgid)
#  endif
# endif
# ifndef YY_
#  define YY_(Msgid) Msgid
# endif
#endif


#ifndef YY_ATTRIBUTE_PURE
# if defined __GNUC__ && 2 < __GNUC__ + (96 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_PURE __attribute__ ((__pure__))
# else
#  define YY_ATTRIBUTE_PURE
# endif
#endif

#ifndef YY_ATTRIBUTE_UNUSED
# if defined __GNUC__ && 2 < __GNUC__ + (7 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_UNUSED __attribute__ ((__unused__))
# else
#  define YY_ATTRIBUTE_UNUSED
# endif
#endif

/* Suppress unused-variable warnings by "using" E.  */
#if ! defined lint || defined __GNUC__
# define YY_USE(E) ((void) (E))
#else
# define YY_USE(E) /* empty */
#endif

/* Suppress an incorrect diagnostic about yylval being uninitialized.  */
#if defined __GNUC__ && ! defined __ICC && 406 <= __GNUC__ * 100 + __GNUC_MINOR__
# if __GNUC__ * 100 + __GNUC_MINOR__ < 407
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")
# else
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")              \
    _Pragma ("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
# endif
# define YY_IGNORE_MAYBE_UNINITIALIZED_END      \
    _Pragma ("GCC diagnostic pop")
#else
# define YY_INITIAL_VALUE(Value) Value
#endif
#ifndef YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_END
#endif
#ifndef YY_INITIAL_VALUE
# define YY_INITIAL_VALUE(Value) /* Nothing. */
#endif

#if defined __cplusplus && defined __GNUC__ && ! defined __ICC && 6 <= __GNUC__
# define YY_IGNORE_USELESS_CAST_BEGIN                          \
    _Pragma ("GCC diagnostic push")                            \
    _Pragma ("GCC diagnostic ignored \"-Wuseless-cast\"")
# define YY_IGNORE_USELESS_CAST_END            \
    _Pragma ("GCC diagnostic pop")
#endif
#ifndef YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_END
#endif


#define YY_ASSERT(E) ((void) (0 && (E)))

#if 1

/* The parser invokes alloca or malloc; define the necessary symbols.  */

# ifdef YYSTACK_USE_ALLOCA
#  if YYSTACK_USE_ALLOCA
#   ifdef __GNUC__
#    define YYSTACK_ALLOC __builtin_alloca
#   elif defined __BUILTIN_VA_ARG_INCR
#    include <alloca.h> /* INFRINGES ON USER NAME SPACE */
#   elif defined _AIX
#    define YYSTACK_ALLOC __alloca
#   elif defined _MSC_VER
#    include <malloc.h> /* INFRINGES ON USER NAME SPACE */
#    define alloca _alloca
#   else
#    define YYSTACK_ALLOC alloca
#    if ! defined _ALLOCA_H && ! defined EXIT_SUCCESS
#     include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
      /* Use EXIT_SUCCESS as a witness for stdlib.h.  */
#     ifndef EXIT_SUCCESS
#      define EXIT_SUCCESS 0
#     endif
#    endif
#   endif
#  endif
# endif

# ifdef YYSTACK_ALLOC
   /* Pacify GCC's 'empty if-body' warning.  */
#  define YYSTACK_FREE(Ptr) do { /* empty */; } while (0)
#  ifndef YYSTACK_ALLOC_MAXIMUM
    /* The OS might guarantee only one guard page at the bottom of the stack,
       and a page size can be as small as 4096 bytes.  So we cannot safely
       invoke alloca (N) if N exceeds 4096.  Use a slightly smaller number
       to allow for a few compiler-allocated temporary stack slots.  */
#   define YYSTACK_ALLOC_MAXIMUM 4032 /* reasonable circa 2006 */
#  endif
# else
#  define YYSTACK_ALLOC YYMALLOC
#  define YYSTACK_FREE YYFREE
#  ifndef YYSTACK_ALLOC_MAXIMUM
#   define YYSTACK_ALLOC_MAXIMUM YYSIZE_MAXIMUM
#  endif
#  if (defined __cplusplus && ! defined EXIT_SUCCESS \
       && ! ((defined YYMALLOC || defined malloc) \
             && (defined YYFREE || defined free)))
#   include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
#   ifndef EXIT_SUCCESS
#    define EXIT_SUCCESS 0
#   endif
#  endif
#  ifndef YYMALLOC
#   define YYMALLOC malloc
#   if ! defined malloc && ! defined EXIT_SUCCESS
void *malloc (YYSIZE_T); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
#  ifndef YYFREE
#   define YYFREE free
#   if ! defined free && ! defined EXIT_SUCCESS
void free (void *); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
# endif
#endif /* 1 */

#if (! defined yyoverflow \
     && (! defined __cplusplus \
         || (defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL \
             && defined YYSTYPE_IS_TRIVIAL && YYSTYPE_IS_TRIVIAL)))

/* A type that is properly aligned for any stack member.  */
union yyalloc
{
  yy_state_t yyss_alloc;
  YYSTYPE yyvs_alloc;
  YYLTYPE yyls_alloc;
};

/* The size of the maximum gap between one aligned stack and the next.  */
# define YYSTACK_GAP_MAXIMUM (YYSIZEOF (union yyalloc) - 1)

/* The size of an array large to enough to hold all stacks, each with
   N elements.  */
# define YYSTACK_BYTES(N) \
     ((N) * (YYSIZEOF (yy_state_t) + YYSIZEOF (YYSTYPE) \
             + YYSIZEOF (YYLTYPE)) \
      + 2 * YYSTACK_GAP_MAXIMUM)

# define YYCOPY_NEEDED 1

/* Relocate STACK from its old location to the new one.  The
   local variables YYSIZE and YYSTACKSIZE give the old and new number of
   elements in the stack, and YYPTR gives the new location of the
   stack.  Advance YYPTR to a properly aligned location for the next
   stack.  */
# define YYSTACK_RELOCATE(Stack_alloc, Stack)                           \
    do                                                                  \
      {                                                                 \
        YYPTRDIFF_T yynewbytes;                                         \
        YYCOPY (&yyptr->Stack_alloc, Stack, yysize);                    \
        Stack = &yyptr->Stack_alloc;                                    \
        yynewbytes = yystacksize * YYSIZEOF (*Stack) + YYSTACK_GAP_MAXIMUM; \
        yyptr += yynewbytes / YYSIZEOF (*yyptr);                        \
      }                                                                 \
    while (0)

#endif

#if defined YYCOPY_NEEDED && YYCOPY_NEEDED
/* Copy COUNT objects from SRC to DST.  The source and destination do
   not overlap.  */
# ifndef YYCOPY
#  if defined __GNUC__ && 1 < __GNUC__
#   define YYCOPY(Dst, Src, Count) \
      __builtin_memcpy (Dst, Src, YY_CAST (YYSIZE_T, (Count)) * sizeof (*(Src)))
#  else
#   define YYCOPY(Dst, Src, Count)              \
      do                                        \
        {                                       \
          YYPTRDIFF_T yyi;                      \
          for (yyi = 0; yyi < (Count); yyi++)   \
            (Dst)[yyi] = (Src)[yyi];            \
        }                                       \
      while (0)
#  endif
# endif
#endif /* !YYCOPY_NEEDED */

/* YYFINAL -- State number of the termination state.  */
#define YYFINAL  65
/* YYLAST -- Last index in YYTABLE.  */
#define YYLAST   739

/* YYNTOKENS -- Number of terminals.  */
#define YYNTOKENS  64
/* YYNNTS -- Number of nonterminals.  */
#define YYNNTS  57
/* YYNRULES -- Number of rules.  */
#define YYNRULES  170
/* YYNSTATES -- Number of states.  */
#define YYNSTATES  288

/* YYMAXUTOK -- Last valid token kind.  */
#define YYMAXUTOK   299


/* YYTRANSLATE(TOKEN-NUM) -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex, with out-of-bounds checking.  */
#define YYTRANSLATE(YYX)                                \
  (0 <= (YYX) && (YYX) <= YYMAXUTOK                     \
   ? YY_CAST (yysymbol_kind_t, yytranslate[YYX])        \
   : YYSYMBOL_YYUNDEF)

/* YYTRANSLATE[TOKEN-NUM] -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex.  */
static const yytype_int8 yytranslate[] =
{
       0,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,    49,     2,     2,
      54,    55,    47,    45,    52,    46,    56,    48,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,    57,    51,
      58,    53,    59,     2,    50,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,    60,     2,    61,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,    62,     2,    63,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     1,     2,     3,     4,
       5,     6,     7,     8,     9,    10,    11,    12,    13,    14,
      15,    16,    17,    18,    19,    20,    21,    22,    23,    24,
      25,    26,    27,    28,    29,    30,    31,    32,    33,    34,
      35,    36,    37,    38,    39,    40,    41,    42,    43,    44
};

#if YYDEBUG
/* YYRLINE[YYN] -- Source line where rule number YYN was defined.  */
static const yytype_int16 yyrline[] =
{
       0,   162,   162,   163,   167,   168,   172,   173,   177,   178,
     182,   183,   184,   185,   189,   190,   194,   198,   199,   200,
     201,   202,   203,   204,   205,   206,   207,   215,   216,   219,
     226,   227,   231,   232,   236,   240,   247,   248,   252,   253,
     257,   258,   262,   263,   267,   268,   269,   276,   277,   281,
     282,   283,   284,   285,   286,   287,   291,   292,   296,   300,
     304,   308,   312,   316,   317,   318,   325,   326,   332,   336,
     340,   347,   348,   352,   353,   357,   358,   359,   360,   361,
     362,   363,   367,   371,   375,   384,   385,   389,   390,   395,
     396,   400,   401,   405,   406,   412,   413,   417,   418,   422,
     423,   427,   428,   432,   433,   434,   435,   436,   437,   438,
     439,   440,   441,   445,   446,   447,   448,   449,   450,   451,
     452,   456,   457,   458,   462,   463,   467,   468,   469,   470,
     471,   478,   479,   482,   488,   489,   493,   494,   495,   496,
     497,   498,   499,   500,   501,   506,   510,   511,   512,   513,
     514,   515,   519,   520,   524,   530,   531,   538,   542,   543,
     547,   550,   553,   564,   571,   575,   576,   580,   581,   582,
     583
};
#endif

/** Accessing symbol of state STATE.  */
#define YY_ACCESSING_SYMBOL(State) YY_CAST (yysymbol_kind_t, yystos[State])

#if 1
/* The user-facing name of the symbol whose (internal) number is
   YYSYMBOL.  No bounds checking.  */
static const char *yysymbol_name (yysymbol_kind_t yysymbol) YY_ATTRIBUTE_UNUSED;

static const char *
yysymbol_name (yysymbol_kind_t yysymbol)
{
  static const char *const yy_sname[] =
  {
  "end of file", "error", "invalid token", "START_FILE", "START_EXPR",
  "end of line", "indent", "unindent", "name", "integer", "float",
  "string", "f-string", "import", "from", "as", "def", "class", "return",
  "for", "in", "if", "elif", "else", "pass", "and", "or", "not", "None",
  "True", "False", "while", "break", "continue", "is", "assert",
  "unsupported keyword", "**", "//", "==", "!=", "<=", ">=", "->",
  "augmented assignment", "'+'", "'-'", "'*'", "'/'", "'%'", "'@'", "';'",
  "','", "'='", "'('", "')'", "'.'", "':'", "'<'", "'>'", "'['", "']'",
  "'{'", "'}'", "$accept", "top", "opt_newlines", "file", "stmts", "stmt",
  "simple_stmt", "small_stmt", "expr_stmt", "assign_chain", "import_stmt",
  "opt_comma", "dotted_as_names", "dotted_as_name", "import_as_names",
  "import_as_name", "dotted_name", "compound_stmt", "decorators",
  "decorator", "block", "suite", "if_stmt", "elif_tail", "for_stmt",
  "while_stmt", "def_stmt", "params", "param_list", "param", "class_stmt",
  "testlist", "testlist_items", "exprlist", "exprlist_items", "test",
  "or_test", "and_test", "not_test", "comparison", "comp_op", "expr",
  "factor", "power", "atom_expr", "subscript", "opt_test", "atom",
  "list_body", "comp_for", "comp_tail", "dict_body", "dict_items",
  "strings", "arglist", "args", "arg", YY_NULLPTR
  };
  return yy_sname[yysymbol];
}
#endif

#define YYPACT_NINF (-229)

#define yypact_value_is_default(Yyn) \
  ((Yyn) == YYPACT_NINF)

#define YYTABLE_NINF (-136)

#define yytable_value_is_error(Yyn) \
  0

/* YYPACT[STATE-NUM] -- Index in YYTABLE of the portion describing
   STATE-NUM.  */
static const yytype_int16 yypact[] =
{
      79,    39,   677,    17,    20,    31,  -229,  -229,  -229,  -229,
    -229,    28,     3,    35,    86,   677,   199,   677,  -229,   677,
    -229,  -229,  -229,   677,  -229,  -229,   677,  -229,   199,   199,
     677,   194,   427,   495,  -229,   268,  -229,    11,  -229,  -229,
     677,  -229,  -229,    61,  -229,  -229,  -229,  -229,  -229,  -229,
      47,    36,    66,    60,    83,  -229,   424,   140,  -229,  -229,
      42,  -229,    80,  -229,  -229,  -229,  -229,   105,  -229,    62,
    -229,     5,   123,     9,    71,   -31,  -229,   107,    76,   140,
      73,  -229,    73,    81,  -229,  -229,   127,    84,  -229,    91,
     115,    77,  -229,    92,   115,    93,  -229,    95,    90,   103,
    -229,  -229,   551,   104,  -229,  -229,  -229,  -229,   677,   677,
     677,   677,   677,  -229,   138,   132,  -229,  -229,  -229,  -229,
    -229,  -229,   199,   199,   199,   199,   199,   199,   199,   199,
     199,   562,   153,   677,  -229,  -229,   158,  -229,    28,   156,
     157,  -229,    26,    89,   617,   466,  -229,   677,   199,    82,
    -229,   677,  -229,  -229,  -229,   199,   112,  -229,   677,  -229,
    -229,  -229,   677,  -229,   677,  -229,  -229,  -229,  -229,  -229,
      64,    83,  -229,  -229,  -229,   140,  -229,   412,   412,  -229,
    -229,  -229,  -229,  -229,   116,   677,   677,  -229,  -229,   113,
     119,  -229,  -229,  -229,   118,   111,   120,  -229,  -229,  -229,
    -229,   161,  -229,    29,   121,  -229,   -11,   171,   173,   136,
     130,  -229,    73,   137,   187,    13,  -229,    73,   140,   677,
      73,  -229,  -229,   176,  -229,  -229,   141,   677,   677,  -229,
    -229,  -229,   622,  -229,  -229,   677,   189,   147,    29,   677,
     677,  -229,  -229,   -16,    89,  -229,  -229,    73,   380,  -229,
     177,    73,  -229,   677,   677,  -229,  -229,  -229,  -229,   155,
    -229,    29,   159,  -229,  -229,   160,   677,  -229,  -229,  -229,
     325,    73,    82,   190,  -229,   677,  -229,   677,    73,  -229,
    -229,  -229,   197,  -229,  -229,  -229,   677,   190
};

/* YYDEFACT[STATE-NUM] -- Default reduction number in state STATE-NUM.
   Performed when YYTABLE does not specify something else to do.  Zero
   means the default is an error.  */
static const yytype_uint8 yydefact[] =
{
       0,     0,     0,     0,     0,     0,   136,   137,   138,   160,
     161,     0,     0,     0,     0,    21,     0,     0,    18,     0,
     140,   141,   142,     0,    19,    20,     0,    26,     0,     0,
       0,     0,     0,     0,     2,     0,     8,     0,    14,    17,
       0,    25,    11,     0,    56,    49,    50,    51,    52,    53,
      27,    85,    87,    93,    95,    97,   100,   101,   113,   123,
     124,   126,   139,     4,    87,     1,    12,     0,    47,    32,
      38,    40,     0,     0,     0,     0,    22,     0,    89,    91,
       0,    99,     0,    23,   122,   121,     0,     0,   143,     0,
      87,     0,   146,    36,    87,     0,   148,     0,     0,    36,
       9,    10,    16,    28,    57,    54,    55,    30,    86,     0,
       0,     0,     0,   109,     0,   111,   105,   106,   107,   108,
     103,   104,     0,     0,     0,     0,     0,     0,     0,     0,
       0,     0,     0,   134,   162,   163,     3,    13,     0,     0,
       0,    35,     0,    71,     0,     0,    82,     0,    90,    63,
      68,     0,    58,   150,   144,     0,     0,   151,    37,   152,
     153,   147,     0,   149,    37,   157,    15,    31,    88,    29,
       0,    96,    98,   110,   112,   102,   118,   114,   115,   116,
     117,   119,   120,   125,   136,     0,     0,   127,   167,     0,
      36,   165,   130,   131,    87,     0,     0,     5,    39,    41,
      48,    44,    46,     0,    33,    42,    75,     0,    80,     0,
      36,    73,     0,     0,     0,     0,    59,     0,    92,     0,
       0,    62,    24,     0,   145,   158,     0,     0,     0,   170,
     169,   128,    37,   164,   129,   134,     0,    36,     0,     0,
       0,    81,    79,     0,    37,    72,    83,     0,     0,    60,
      66,     0,    64,     0,     0,    94,   168,   166,   135,   132,
      45,    37,     0,    43,    77,    76,     0,    69,    74,    84,
       0,     0,    63,   155,   159,   134,    34,     0,     0,    61,
      67,    65,   154,   133,    78,    70,     0,   156
};

/* YYPGOTO[NTERM-NUM].  */
static const yytype_int16 yypgoto[] =
{
    -229,  -229,  -229,  -229,   -33,   -34,    74,   129,  -229,  -229,
    -229,   -87,  -229,    94,    32,  -228,   208,  -229,  -229,   191,
     -77,  -229,  -229,   -30,  -229,  -229,   198,  -229,  -229,    -1,
     203,     4,   215,    96,  -229,    -2,  -106,   139,   -17,  -229,
    -229,    -7,   -21,  -229,  -229,  -229,  -221,  -229,  -229,   163,
    -229,  -229,  -229,  -229,   114,  -229,    23
};

/* YYDEFGOTO[NTERM-NUM].  */
static const yytype_int16 yydefgoto[] =
{
       0,     3,   136,    34,    35,    36,    37,    38,    39,    40,
      41,   159,    69,    70,   204,   205,    71,    42,    43,    44,
     146,   216,    45,   221,    46,    47,    48,   209,   210,   211,
      49,    50,    51,    77,    78,    52,    53,    54,    55,    56,
     122,    57,    58,    59,    60,   195,   196,    61,    95,   156,
     282,    98,    99,    62,   189,   190,   191
};

/* YYTABLE[YYPACT[STATE-NUM]] -- What to do in state STATE-NUM.  If
   positive, shift that token.  If negative, reduce the rule whose
   number is the opposite.  If YYTABLE_NINF, syntax error.  */
static const yytype_int16 yytable[] =
{
      64,   100,    81,   149,   170,   150,    63,    84,    85,    79,
     263,    68,   165,    64,   259,    80,   101,    65,   249,    76,
     139,    82,   142,   144,    83,    66,   145,   266,    86,    90,
      94,    97,    67,   263,   201,    89,    68,   201,    64,    -6,
       4,   145,   239,    74,   103,     5,   240,     6,     7,     8,
       9,    10,    11,    12,   283,    13,    14,    15,    16,    72,
      17,   140,   102,    18,   102,   140,    19,    20,    21,    22,
      23,    24,    25,   202,    26,    27,   202,    13,    14,   130,
     203,   110,     1,     2,    28,    29,   111,   227,   108,    30,
     111,   134,   135,    31,    75,   172,   131,   206,   132,    32,
     107,    33,   133,   233,   219,   220,   168,    64,   112,   183,
     109,    30,   137,   169,   138,   175,   176,   177,   178,   179,
     180,   181,   182,   245,   141,   143,   207,   147,   148,   188,
     145,   194,   152,   151,   155,   246,   208,   193,   157,   153,
     250,   218,   188,   252,   158,    64,   154,   273,    79,   222,
     262,   217,   162,   163,   161,   164,   168,   167,   173,   174,
     225,   192,   226,   197,   199,   200,   267,   224,   231,   228,
     269,   232,   234,   238,   272,  -135,   236,   235,   123,   241,
     287,   242,   244,   229,   230,   124,   125,   126,   127,   128,
     129,   243,   247,   248,   280,    87,   253,   260,   254,   261,
     271,   285,     6,     7,     8,     9,    10,     6,     7,     8,
       9,    10,   275,   277,   276,   270,   111,   251,   286,   215,
      73,    19,    20,    21,    22,   255,   256,    20,    21,    22,
     188,   166,   198,   258,   104,   237,   100,   264,   265,    28,
      29,   105,   281,   268,    28,    29,   106,    93,    31,    88,
     171,   223,   274,    31,    32,   257,    33,   160,   213,    32,
       0,    33,     0,     0,   278,     0,     0,     0,    -7,     4,
       0,     0,     0,   258,     5,   284,     6,     7,     8,     9,
      10,    11,    12,     0,    13,    14,    15,    16,     0,    17,
       0,     0,    18,     0,     0,    19,    20,    21,    22,    23,
      24,    25,     0,    26,    27,     0,     0,     0,     0,     0,
       0,     0,     0,    28,    29,     0,     0,     0,    30,     0,
       0,     0,    31,     0,     0,     0,     4,     0,    32,     0,
      33,     5,   279,     6,     7,     8,     9,    10,    11,    12,
       0,    13,    14,    15,    16,     0,    17,     0,     0,    18,
       0,     0,    19,    20,    21,    22,    23,    24,    25,     0,
      26,    27,     0,     0,     0,     0,     0,     0,     0,     0,
      28,    29,     0,     0,     0,    30,     0,     0,     0,    31,
       0,     4,     0,     0,     0,    32,     5,    33,     6,     7,
       8,     9,    10,    11,    12,     0,    13,    14,    15,    16,
       0,    17,     0,     0,    18,     0,     0,    19,    20,    21,
      22,    23,    24,    25,     0,    26,    27,     0,     0,     0,
       0,     0,     0,     0,     0,    28,    29,     0,    91,     0,
      30,     0,     0,     0,    31,     6,     7,     8,     9,    10,
      32,     0,    33,     0,   113,     0,     0,     0,     0,     0,
     123,   114,     0,     0,    19,    20,    21,    22,   115,   126,
     127,   128,   129,   116,   117,   118,   119,     0,     0,     0,
       0,   214,    28,    29,     6,     7,     8,     9,    10,    11,
      12,    31,   120,   121,    15,     0,     0,    32,    92,    33,
      18,     0,     0,    19,    20,    21,    22,     0,    24,    25,
       0,    26,    27,     6,     7,     8,     9,    10,     0,     0,
       0,    28,    29,     0,     0,     0,     0,     0,     0,     0,
      31,     0,    19,    20,    21,    22,    32,     0,    33,     0,
       0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
      28,    29,     0,     0,     0,     0,     0,     0,     0,    31,
       0,     0,     0,     0,     0,    32,     0,    33,    96,     6,
       7,     8,     9,    10,    11,    12,     0,     0,     0,    15,
     184,     7,     8,     9,    10,    18,     0,     0,    19,    20,
      21,    22,     0,    24,    25,     0,    26,    27,     0,    19,
      20,    21,    22,     0,     0,     0,    28,    29,     0,   185,
       0,     0,     0,     0,     0,    31,     0,    28,    29,   186,
       0,    32,     0,    33,     0,     0,    31,   187,     0,     0,
       0,     0,    32,     0,    33,   184,     7,     8,     9,    10,
     184,     7,     8,     9,    10,     0,     0,     0,     0,     0,
       0,     0,     0,     0,    19,    20,    21,    22,     0,    19,
      20,    21,    22,     0,   185,     0,     0,     0,     0,   185,
       0,     0,    28,    29,   186,     0,     0,    28,    29,   186,
       0,    31,   212,     0,     0,     0,    31,    32,     0,    33,
       0,     0,    32,     0,    33,     6,     7,     8,     9,    10,
       0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
       0,     0,     0,     0,    19,    20,    21,    22,     0,     0,
       0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
       0,     0,    28,    29,     0,     0,     0,     0,     0,     0,
       0,    31,     0,     0,     0,     0,     0,    32,     0,    33
};

static const yytype_int16 yycheck[] =
{
       2,    35,    19,    80,   110,    82,     2,    28,    29,    16,
     238,     8,    99,    15,   235,    17,     5,     0,     5,    15,
      15,    23,    13,    54,    26,     5,    57,    43,    30,    31,
      32,    33,     1,   261,     8,    31,     8,     8,    40,     0,
       1,    57,    53,     8,    40,     6,    57,     8,     9,    10,
      11,    12,    13,    14,   275,    16,    17,    18,    19,    56,
      21,    56,    51,    24,    51,    56,    27,    28,    29,    30,
      31,    32,    33,    47,    35,    36,    47,    16,    17,    37,
      54,    21,     3,     4,    45,    46,    26,    23,    52,    50,
      26,    11,    12,    54,     8,   112,    54,     8,    56,    60,
      53,    62,    60,   190,    22,    23,   108,   109,    25,   130,
      44,    50,     7,   109,    52,   122,   123,   124,   125,   126,
     127,   128,   129,   210,     1,    54,    37,    20,    52,   131,
      57,   133,     5,    52,    19,   212,    47,   133,    61,    55,
     217,   148,   144,   220,    52,   147,    55,   253,   155,   151,
     237,   147,    57,    63,    61,    52,   158,    53,    20,    27,
     162,     8,   164,     5,     8,     8,   243,    55,    55,    53,
     247,    52,    61,    52,   251,    57,    15,    57,    38,     8,
     286,     8,    52,   185,   186,    45,    46,    47,    48,    49,
      50,    55,    55,     6,   271,     1,    20,     8,    57,    52,
      23,   278,     8,     9,    10,    11,    12,     8,     9,    10,
      11,    12,    57,    53,    55,   248,    26,   219,    21,   145,
      12,    27,    28,    29,    30,   227,   228,    28,    29,    30,
     232,   102,   138,   235,    43,   203,   270,   239,   240,    45,
      46,    43,   272,   244,    45,    46,    43,    32,    54,    55,
     111,   155,   254,    54,    60,   232,    62,    94,   144,    60,
      -1,    62,    -1,    -1,   266,    -1,    -1,    -1,     0,     1,
      -1,    -1,    -1,   275,     6,   277,     8,     9,    10,    11,
      12,    13,    14,    -1,    16,    17,    18,    19,    -1,    21,
      -1,    -1,    24,    -1,    -1,    27,    28,    29,    30,    31,
      32,    33,    -1,    35,    36,    -1,    -1,    -1,    -1,    -1,
      -1,    -1,    -1,    45,    46,    -1,    -1,    -1,    50,    -1,
      -1,    -1,    54,    -1,    -1,    -1,     1,    -1,    60,    -1,
      62,     6,     7,     8,     9,    10,    11,    12,    13,    14,
      -1,    16,    17,    18,    19,    -1,    21,    -1,    -1,    24,
      -1,    -1,    27,    28,    29,    30,    31,    32,    33,    -1,
      35,    36,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,
      45,    46,    -1,    -1,    -1,    50,    -1,    -1,    -1,    54,
      -1,     1,    -1,    -1,    -1,    60,     6,    62,     8,     9,
      10,    11,    12,    13,    14,    -1,    16,    17,    18,    19,
      -1,    21,    -1,    -1,    24,    -1,    -1,    27,    28,    29,
      30,    31,    32,    33,    -1,    35,    36,    -1,    -1,    -1,
      -1,    -1,    -1,    -1,    -1,    45,    46,    -1,     1,    -1,
      50,    -1,    -1,    -1,    54,     8,     9,    10,    11,    12,
      60,    -1,    62,    -1,    20,    -1,    -1,    -1,    -1,    -1,
      38,    27,    -1,    -1,    27,    28,    29,    30,    34,    47,
      48,    49,    50,    39,    40,    41,    42,    -1,    -1,    -1,
      -1,     5,    45,    46,     8,     9,    10,    11,    12,    13,
      14,    54,    58,    59,    18,    -1,    -1,    60,    61,    62,
      24,    -1,    -1,    27,    28,    29,    30,    -1,    32,    33,
      -1,    35,    36,     8,     9,    10,    11,    12,    -1,    -1,
      -1,    45,    46,    -1,    -1,    -1,    -1,    -1,    -1,    -1,
      54,    -1,    27,    28,    29,    30,    60,    -1,    62,    -1,
      -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,
      45,    46,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    54,
      -1,    -1,    -1,    -1,    -1,    60,    -1,    62,    63,     8,
       9,    10,    11,    12,    13,    14,    -1,    -1,    -1,    18,
       8,     9,    10,    11,    12,    24,    -1,    -1,    27,    28,
      29,    30,    -1,    32,    33,    -1,    35,    36,    -1,    27,
      28,    29,    30,    -1,    -1,    -1,    45,    46,    -1,    37,
      -1,    -1,    -1,    -1,    -1,    54,    -1,    45,    46,    47,
      -1,    60,    -1,    62,    -1,    -1,    54,    55,    -1,    -1,
      -1,    -1,    60,    -1,    62,     8,     9,    10,    11,    12,
       8,     9,    10,    11,    12,    -1,    -1,    -1,    -1,    -1,
      -1,    -1,    -1,    -1,    27,    28,    29,    30,    -1,    27,
      28,    29,    30,    -1,    37,    -1,    -1,    -1,    -1,    37,
      -1,    -1,    45,    46,    47,    -1,    -1,    45,    46,    47,
      -1,    54,    55,    -1,    -1,    -1,    54,    60,    -1,    62,
      -1,    -1,    60,    -1,    62,     8,     9,    10,    11,    12,
      -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,
      -1,    -1,    -1,    -1,    27,    28,    29,    30,    -1,    -1,
      -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,    -1,
      -1,    -1,    45,    46,    -1,    -1,    -1,    -1,    -1,    -1,
      -1,    54,    -1,    -1,    -1,    -1,    -1,    60,    -1,    62
};

/* YYSTOS[STATE-NUM] -- The symbol kind of the accessing symbol of
   state STATE-NUM.  */
static const yytype_int8 yystos[] =
{
       0,     3,     4,    65,     1,     6,     8,     9,    10,    11,
      12,    13,    14,    16,    17,    18,    19,    21,    24,    27,
      28,    29,    30,    31,    32,    33,    35,    36,    45,    46,
      50,    54,    60,    62,    67,    68,    69,    70,    71,    72,
      73,    74,    81,    82,    83,    86,    88,    89,    90,    94,
      95,    96,    99,   100,   101,   102,   103,   105,   106,   107,
     108,   111,   117,    95,    99,     0,     5,     1,     8,    76,
      77,    80,    56,    80,     8,     8,    95,    97,    98,   105,
      99,   102,    99,    99,   106,   106,    99,     1,    55,    95,
      99,     1,    61,    96,    99,   112,    63,    99,   115,   116,
      69,     5,    51,    95,    83,    90,    94,    53,    52,    44,
      21,    26,    25,    20,    27,    34,    39,    40,    41,    42,
      58,    59,   104,    38,    45,    46,    47,    48,    49,    50,
      37,    54,    56,    60,    11,    12,    66,     7,    52,    15,
      56,     1,    13,    54,    54,    57,    84,    20,    52,    84,
      84,    52,     5,    55,    55,    19,   113,    61,    52,    75,
     113,    61,    57,    63,    52,    75,    71,    53,    99,    95,
     100,   101,   102,    20,    27,   105,   105,   105,   105,   105,
     105,   105,   105,   106,     8,    37,    47,    55,    99,   118,
     119,   120,     8,    95,    99,   109,   110,     5,    77,     8,
       8,     8,    47,    54,    78,    79,     8,    37,    47,    91,
      92,    93,    55,   118,     5,    70,    85,    95,   105,    22,
      23,    87,    99,    97,    55,    99,    99,    23,    53,    99,
      99,    55,    52,    75,    61,    57,    15,    78,    52,    53,
      57,     8,     8,    55,    52,    75,    84,    55,     6,     5,
      84,    99,    84,    20,    57,    99,    99,   120,    99,   110,
       8,    52,    75,    79,    99,    99,    43,    84,    93,    84,
      68,    23,    84,   100,    99,    57,    55,    53,    99,     7,
      84,    87,   114,   110,    99,    84,    21,   100
};

/* YYR1[RULE-NUM] -- Symbol kind of the left-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr1[] =
{
       0,    64,    65,    65,    66,    66,    67,    67,    68,    68,
      69,    69,    69,    69,    70,    70,    70,    71,    71,    71,
      71,    71,    71,    71,    71,    71,    71,    72,    72,    72,
      73,    73,    74,    74,    74,    74,    75,    75,    76,    76,
      77,    77,    78,    78,    79,    79,    79,    80,    80,    81,
      81,    81,    81,    81,    81,    81,    82,    82,    83,    84,
      85,    85,    86,    87,    87,    87,    88,    88,    89,    90,
      90,    91,    91,    92,    92,    93,    93,    93,    93,    93,
      93,    93,    94,    94,    94,    95,    95,    96,    96,    97,
      97,    98,    98,    99,    99,   100,   100,   101,   101,   102,
     102,   103,   103,   104,   104,   104,   104,   104,   104,   104,
     104,   104,   104,   105,   105,   105,   105,   105,   105,   105,
     105,   106,   106,   106,   107,   107,   108,   108,   108,   108,
     108,   109,   109,   109,   110,   110,   111,   111,   111,   111,
     111,   111,   111,   111,   111,   111,   111,   111,   111,   111,
     111,   111,   112,   112,   113,   114,   114,   115,   116,   116,
     117,   117,   117,   117,   118,   119,   119,   120,   120,   120,
     120
};

/* YYR2[RULE-NUM] -- Number of symbols on the right-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr2[] =
{
       0,     2,     2,     3,     0,     2,     0,     1,     1,     2,
       2,     1,     2,     3,     1,     3,     2,     1,     1,     1,
       1,     1,     2,     2,     4,     1,     1,     1,     2,     3,
       2,     3,     2,     4,     7,     3,     0,     1,     1,     3,
       1,     3,     1,     3,     1,     3,     1,     1,     3,     1,
       1,     1,     1,     1,     2,     2,     1,     2,     3,     2,
       2,     4,     4,     0,     2,     4,     5,     7,     3,     6,
       8,     0,     2,     1,     3,     1,     3,     3,     5,     2,
       1,     2,     3,     5,     6,     1,     2,     1,     3,     1,
       2,     1,     3,     1,     5,     1,     3,     1,     3,     2,
       1,     1,     3,     1,     1,     1,     1,     1,     1,     1,
       2,     1,     2,     1,     3,     3,     3,     3,     3,     3,
       3,     2,     2,     1,     1,     3,     1,     3,     4,     4,
       3,     1,     3,     5,     0,     1,     1,     1,     1,     1,
       1,     1,     1,     2,     3,     4,     2,     3,     2,     3,
       3,     3,     2,     2,     5,     0,     3,     2,     3,     5,
       1,     1,     2,     2,     2,     1,     3,     1,     3,     2,
       2
};


enum { YYENOMEM = -2 };

#define yyerrok         (yyerrstatus = 0)
#define yyclearin       (yychar = TK_YYEMPTY)

#define YYACCEPT        goto yyacceptlab
#define YYABORT         goto yyabortlab
#define YYERROR         goto yyerrorlab
#define YYNOMEM         goto yyexhaustedlab


#define YYRECOVERING()  (!!yyerrstatus)

#define YYBACKUP(Token, Value)                                    \
  do                                                              \
    if (yychar == TK_YYEMPTY)                                        \
      {                                                           \
        yychar = (Token);                                         \
        yylval = (Value);                                         \
        YYPOPSTACK (yylen);                                       \
        yystate = *yyssp;                                         \
        goto yybackup;                                            \
      }                                                           \
    else                                                          \
      {                                                           \
        yyerror (&yylloc, p, YY_("syntax error: cannot back up")); \
        YYERROR;                                                  \
      }                                                           \
  while (0)

/* Backward compatibility with an undocumented macro.
   Use TK_YYerror or TK_YYUNDEF. */
#define YYERRCODE TK_YYUNDEF

/* YYLLOC_DEFAULT -- Set CURRENT to span from RHS[1] to RHS[N].
   If N is 0, then set CURRENT to the empty location which ends
   the previous symbol: RHS[0] (always defined).  */

#ifndef YYLLOC_DEFAULT
# define YYLLOC_DEFAULT(Current, Rhs, N)                                \
    do                                                                  \
      if (N)                                                            \
        {                                                               \
          (Current).first_line   = YYRHSLOC (Rhs, 1).first_line;        \
          (Current).first_column = YYRHSLOC (Rhs, 1).first_column;      \
          (Current).last_line    = YYRHSLOC (Rhs, N).last_line;         \
          (Current).last_column  = YYRHSLOC (Rhs, N).last_column;       \
        }                                                               \
      else                                                              \
        {                                                               \
          (Current).first_line   = (Current).last_line   =              \
            YYRHSLOC (Rhs, 0).last_line;                                \
          (Current).first_column = (Current).last_column =              \
            YYRHSLOC (Rhs, 0).last_column;                              \
        }                                                               \
    while (0)
#endif

#define YYRHSLOC(Rhs, K) ((Rhs)[K])


/* Enable debugging if requested.  */
#if YYDEBUG

# ifndef YYFPRINTF
#  include <stdio.h> /* INFRINGES ON USER NAME SPACE */
#  define YYFPRINTF fprintf
# endif

# define YYDPRINTF(Args)                        \
do {                                            \
  if (yydebug)                                  \
    YYFPRINTF Args;                             \
} while (0)


/* YYLOCATION_PRINT -- Print the location on the stream.
   This macro was not mandated originally: define only if we know
   we won't break user code: when these are the locations we know.  */

# ifndef YYLOCATION_PRINT

#  if defined YY_LOCATION_PRINT

   /* Temporary convenience wrapper in case some people defined the
      undocumented and private YY_LOCATION_PRINT macros.  */
#   define YYLOCATION_PRINT(File, Loc)  YY_LOCATION_PRINT(File, *(Loc))

#  elif defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL

/* Print *YYLOCP on YYO.  Private, do not rely on its existence. */

YY_ATTRIBUTE_UNUSED
static int
yy_location_print_ (FILE *yyo, YYLTYPE const * const yylocp)
{
  int res = 0;
  int end_col = 0 != yylocp->last_column ? yylocp->last_column - 1 : 0;
  if (0 <= yylocp->first_line)
    {
      res += YYFPRINTF (yyo, "%d", yylocp->first_line);
      if (0 <= yylocp->first_column)
        res += YYFPRINTF (yyo, ".%d", yylocp->first_column);
    }
  if (0 <= yylocp->last_line)
    {
      if (yylocp->first_line < yylocp->last_line)
        {
          res += YYFPRINTF (yyo, "-%d", yylocp->last_line);
          if (0 <= end_col)
            res += YYFPRINTF (yyo, ".%d", end_col);
        }
      else if (0 <= end_col && yylocp->first_column < end_col)
        res += YYFPRINTF (yyo, "-%d", end_col);
    }
  return res;
}

#   define YYLOCATION_PRINT  yy_location_print_

    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT(File, Loc)  YYLOCATION_PRINT(File, &(Loc))

#  else

#   define YYLOCATION_PRINT(File, Loc) ((void) 0)
    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT  YYLOCATION_PRINT

#  endif
# endif /* !defined YYLOCATION_PRINT */


# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)                    \
do {                                                                      \
  if (yydebug)                                                            \
    {                                                                     \
      YYFPRINTF (stderr, "%s ", Title);                                   \
      yy_symbol_print (stderr,                                            \
                  Kind, Value, Location, p); \
      YYFPRINTF (stderr, "\n");                                           \
    }                                                                     \
} while (0)


/*-----------------------------------.
| Print this symbol's value on YYO.  |
`-----------------------------------*/

static void
yy_symbol_value_print (FILE *yyo,
                       yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, Parser *p)
{
  FILE *yyoutput = yyo;
  YY_USE (yyoutput);
  YY_USE (yylocationp);
  YY_USE (p);
  if (!yyvaluep)
    return;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}


/*---------------------------.
| Print this symbol on YYO.  |
`---------------------------*/

static void
yy_symbol_print (FILE *yyo,
                 yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, Parser *p)
{
  YYFPRINTF (yyo, "%s %s (",
             yykind < YYNTOKENS ? "token" : "nterm", yysymbol_name (yykind));

  YYLOCATION_PRINT (yyo, yylocationp);
  YYFPRINTF (yyo, ": ");
  yy_symbol_value_print (yyo, yykind, yyvaluep, yylocationp, p);
  YYFPRINTF (yyo, ")");
}

/*------------------------------------------------------------------.
| yy_stack_print -- Print the state stack from its BOTTOM up to its |
| TOP (included).                                                   |
`------------------------------------------------------------------*/

static void
yy_stack_print (yy_state_t *yybottom, yy_state_t *yytop)
{
  YYFPRINTF (stderr, "Stack now");
  for (; yybottom <= yytop; yybottom++)
    {
      int yybot = *yybottom;
      YYFPRINTF (stderr, " %d", yybot);
    }
  YYFPRINTF (stderr, "\n");
}

# define YY_STACK_PRINT(Bottom, Top)                            \
do {                                                            \
  if (yydebug)                                                  \
    yy_stack_print ((Bottom), (Top));                           \
} while (0)


/*------------------------------------------------.
| Report that the YYRULE is going to be reduced.  |
`------------------------------------------------*/

static void
yy_reduce_print (yy_state_t *yyssp, YYSTYPE *yyvsp, YYLTYPE *yylsp,
                 int yyrule, Parser *p)
{
  int yylno = yyrline[yyrule];
  int yynrhs = yyr2[yyrule];
  int yyi;
  YYFPRINTF (stderr, "Reducing stack by rule %d (line %d):\n",
             yyrule - 1, yylno);
  /* The symbols being reduced.  */
  for (yyi = 0; yyi < yynrhs; yyi++)
    {
      YYFPRINTF (stderr, "   $%d = ", yyi + 1);
      yy_symbol_print (stderr,
                       YY_ACCESSING_SYMBOL (+yyssp[yyi + 1 - yynrhs]),
                       &yyvsp[(yyi + 1) - (yynrhs)],
                       &(yylsp[(yyi + 1) - (yynrhs)]), p);
      YYFPRINTF (stderr, "\n");
    }
}

# define YY_REDUCE_PRINT(Rule)          \
do {                                    \
  if (yydebug)                          \
    yy_reduce_print (yyssp, yyvsp, yylsp, Rule, p); \
} while (0)

/* Nonzero means print parse trace.  It is left uninitialized so that
   multiple parsers can coexist.  */
int yydebug;
#else /* !YYDEBUG */
# define YYDPRINTF(Args) ((void) 0)
# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)
# define YY_STACK_PRINT(Bottom, Top)
# define YY_REDUCE_PRINT(Rule)
#endif /* !YYDEBUG */


/* YYINITDEPTH -- initial size of the parser's stacks.  */
#ifndef YYINITDEPTH
# define YYINITDEPTH 200
#endif

/* YYMAXDEPTH -- maximum size the stacks can grow to (effective only
   if the built-in stack extension method is used).

   Do not make this value too large; the results are undefined if
   YYSTACK_ALLOC_MAXIMUM < YYSTACK_BYTES (YYMAXDEPTH)
   evaluated with infinite-precision integer arithmetic.  */

#ifndef YYMAXDEPTH
# define YYMAXDEPTH 10000
#endif


/* Context of a parse error.  */
typedef struct
{
  yy_state_t *yyssp;
  yysymbol_kind_t yytoken;
  YYLTYPE *yylloc;
} yypcontext_t;

/* Put in YYARG at most YYARGN of the expected tokens given the
   current YYCTX, and return the number of tokens stored in YYARG.  If
   YYARG is null, return the number of expected tokens (guaranteed to
   be less than YYNTOKENS).  Return YYENOMEM on memory exhaustion.
   Return 0 if there are more than YYARGN expected tokens, yet fill
   YYARG up to YYARGN. */
static int
yypcontext_expected_tokens (const yypcontext_t *yyctx,
                            yysymbol_kind_t yyarg[], int yyargn)
{
  /* Actual size of YYARG. */
  int yycount = 0;
  int yyn = yypact[+*yyctx->yyssp];
  if (!yypact_value_is_default (yyn))
    {
      /* Start YYX at -YYN if negative to avoid negative indexes in
         YYCHECK.  In other words, skip the first -YYN actions for
         this state because they are default actions.  */
      int yyxbegin = yyn < 0 ? -yyn : 0;
      /* Stay within bounds of both yycheck and yytname.  */
      int yychecklim = YYLAST - yyn + 1;
      int yyxend = yychecklim < YYNTOKENS ? yychecklim : YYNTOKENS;
      int yyx;
      for (yyx = yyxbegin; yyx < yyxend; ++yyx)
        if (yycheck[yyx + yyn] == yyx && yyx != YYSYMBOL_YYerror
            && !yytable_value_is_error (yytable[yyx + yyn]))
          {
            if (!yyarg)
              ++yycount;
            else if (yycount == yyargn)
              return 0;
            else
              yyarg[yycount++] = YY_CAST (yysymbol_kind_t, yyx);
          }
    }
  if (yyarg && yycount == 0 && 0 < yyargn)
    yyarg[0] = YYSYMBOL_YYEMPTY;
  return yycount;
}




#ifndef yystrlen
# if defined __GLIBC__ && defined _STRING_H
#  define yystrlen(S) (YY_CAST (YYPTRDIFF_T, strlen (S)))
# else
/* Return the length of YYSTR.  */
static YYPTRDIFF_T
yystrlen (const char *yystr)
{
  YYPTRDIFF_T yylen;
  for (yylen = 0; yystr[yylen]; yylen++)
    continue;
  return yylen;
}
# endif
#endif

#ifndef yystpcpy
# if defined __GLIBC__ && defined _STRING_H && defined _GNU_SOURCE
#  define yystpcpy stpcpy
# else
/* Copy YYSRC to YYDEST, returning the address of the terminating '\0' in
   YYDEST.  */
static char *
yystpcpy (char *yydest, const char *yysrc)
{
  char *yyd = yydest;
  const char *yys = yysrc;

  while ((*yyd++ = *yys++) != '\0')
    continue;

  return yyd - 1;
}
# endif
#endif



static int
yy_syntax_error_arguments (const yypcontext_t *yyctx,
                           yysymbol_kind_t yyarg[], int yyargn)
{
  /* Actual size of YYARG. */
  int yycount = 0;
  /* There are many possibilities here to consider:
     - If this state is a consistent state with a default action, then
       the only way this function was invoked is if the default action
       is an error action.  In that case, don't check for expected
       tokens because there are none.
     - The only way there can be no lookahead present (in yychar) is if
       this state is a consistent state with a default action.  Thus,
       detecting the absence of a lookahead is sufficient to determine
       that there is no unexpected or expected token to report.  In that
       case, just report a simple "syntax error".
     - Don't assume there isn't a lookahead just because this state is a
       consistent state with a default action.  There might have been a
       previous inconsistent state, consistent state with a non-default
       action, or user semantic action that manipulated yychar.
     - Of course, the expected token list depends on states to have
       correct lookahead information, and it depends on the parser not
       to perform extra reductions after fetching a lookahead from the
       scanner and before detecting a syntax error.  Thus, state merging
       (from LALR or IELR) and default reductions corrupt the expected
       token list.  However, the list is correct for canonical LR with
       one exception: it will still contain any token that will not be
       accepted due to an error action in a later state.
  */
  if (yyctx->yytoken != YYSYMBOL_YYEMPTY)
    {
      int yyn;
      if (yyarg)
        yyarg[yycount] = yyctx->yytoken;
      ++yycount;
      yyn = yypcontext_expected_tokens (yyctx,
                                        yyarg ? yyarg + 1 : yyarg, yyargn - 1);
      if (yyn == YYENOMEM)
        return YYENOMEM;
      else
        yycount += yyn;
    }
  return yycount;
}

/* Copy into *YYMSG, which is of size *YYMSG_ALLOC, an error message
   about the unexpected token YYTOKEN for the state stack whose top is
   YYSSP.

   Return 0 if *YYMSG was successfully written.  Return -1 if *YYMSG is
   not large enough to hold the message.  In that case, also set
   *YYMSG_ALLOC to the required number of bytes.  Return YYENOMEM if the
   required number of bytes is too large to store.  */
static int
yysyntax_error (YYPTRDIFF_T *yymsg_alloc, char **yymsg,
                const yypcontext_t *yyctx)
{
  enum { YYARGS_MAX = 5 };
  /* Internationalized format string. */
  const char *yyformat = YY_NULLPTR;
  /* Arguments of yyformat: reported tokens (one for the "unexpected",
     one per "expected"). */
  yysymbol_kind_t yyarg[YYARGS_MAX];
  /* Cumulated lengths of YYARG.  */
  YYPTRDIFF_T yysize = 0;

  /* Actual size of YYARG. */
  int yycount = yy_syntax_error_arguments (yyctx, yyarg, YYARGS_MAX);
  if (yycount == YYENOMEM)
    return YYENOMEM;

  switch (yycount)
    {
#define YYCASE_(N, S)                       \
      case N:                               \
        yyformat = S;                       \
        break
    default: /* Avoid compiler warnings. */
      YYCASE_(0, YY_("syntax error"));
      YYCASE_(1, YY_("syntax error, unexpected %s"));
      YYCASE_(2, YY_("syntax error, unexpected %s, expecting %s"));
      YYCASE_(3, YY_("syntax error, unexpected %s, expecting %s or %s"));
      YYCASE_(4, YY_("syntax error, unexpected %s, expecting %s or %s or %s"));
      YYCASE_(5, YY_("syntax error, unexpected %s, expecting %s or %s or %s or %s"));
#undef YYCASE_
    }

  /* Compute error message size.  Don't count the "%s"s, but reserve
     room for the terminator.  */
  yysize = yystrlen (yyformat) - 2 * yycount + 1;
  {
    int yyi;
    for (yyi = 0; yyi < yycount; ++yyi)
      {
        YYPTRDIFF_T yysize1
          = yysize + yystrlen (yysymbol_name (yyarg[yyi]));
        if (yysize <= yysize1 && yysize1 <= YYSTACK_ALLOC_MAXIMUM)
          yysize = yysize1;
        else
          return YYENOMEM;
      }
  }

  if (*yymsg_alloc < yysize)
    {
      *yymsg_alloc = 2 * yysize;
      if (! (yysize <= *yymsg_alloc
             && *yymsg_alloc <= YYSTACK_ALLOC_MAXIMUM))
        *yymsg_alloc = YYSTACK_ALLOC_MAXIMUM;
      return -1;
    }

  /* Avoid sprintf, as that infringes on the user's name space.
     Don't have undefined behavior even if the translation
     produced a string with the wrong number of "%s"s.  */
  {
    char *yyp = *yymsg;
    int yyi = 0;
    while ((*yyp = *yyformat) != '\0')
      if (*yyp == '%' && yyformat[1] == 's' && yyi < yycount)
        {
          yyp = yystpcpy (yyp, yysymbol_name (yyarg[yyi++]));
          yyformat += 2;
        }
      else
        {
          ++yyp;
          ++yyformat;
        }
  }
  return 0;
}


/*-----------------------------------------------.
| Release the memory associated to this symbol.  |
`-----------------------------------------------*/

static void
yydestruct (const char *yymsg,
            yysymbol_kind_t yykind, YYSTYPE *yyvaluep, YYLTYPE *yylocationp, Parser *p)
{
  YY_USE (yyvaluep);
  YY_USE (yylocationp);
  YY_USE (p);
  if (!yymsg)
    yymsg = "Deleting";
  YY_SYMBOL_PRINT (yymsg, yykind, yyvaluep, yylocationp);

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}






/*----------.
| yyparse.  |
`----------*/

int
yyparse (Parser *p)
{
/* Lookahead token kind.  */
int yychar;


/* The semantic value of the lookahead symbol.  */
/* Default value used for initialization, for pacifying older GCCs
   or non-GCC compilers.  */
YY_INITIAL_VALUE (static YYSTYPE yyval_default;)
YYSTYPE yylval YY_INITIAL_VALUE (= yyval_default);

/* Location data for the lookahead symbol.  */
static YYLTYPE yyloc_default
# if defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL
  = { 1, 1, 1, 1 }
# endif
;
YYLTYPE yylloc = yyloc_default;

    /* Number of syntax errors so far.  */
    int yynerrs = 0;

    yy_state_fast_t yystate = 0;
    /* Number of tokens to shift before error messages enabled.  */
    int yyerrstatus = 0;

    /* Refer to the stacks through separate pointers, to allow yyoverflow
       to reallocate them elsewhere.  */

    /* Their size.  */
    YYPTRDIFF_T yystacksize = YYINITDEPTH;

    /* The state stack: array, bottom, top.  */
    yy_state_t yyssa[YYINITDEPTH];
    yy_state_t *yyss = yyssa;
    yy_state_t *yyssp = yyss;

    /* The semantic value stack: array, bottom, top.  */
    YYSTYPE yyvsa[YYINITDEPTH];
    YYSTYPE *yyvs = yyvsa;
    YYSTYPE *yyvsp = yyvs;

    /* The location stack: array, bottom, top.  */
    YYLTYPE yylsa[YYINITDEPTH];
    YYLTYPE *yyls = yylsa;
    YYLTYPE *yylsp = yyls;

  int yyn;
  /* The return value of yyparse.  */
  int yyresult;
  /* Lookahead symbol kind.  */
  yysymbol_kind_t yytoken = YYSYMBOL_YYEMPTY;
  /* The variables used to return semantic value and location from the
     action routines.  */
  YYSTYPE yyval;
  YYLTYPE yyloc;

  /* The locations where the error started and ended.  */
  YYLTYPE yyerror_range[3];

  /* Buffer for error messages, and its allocated size.  */
  char yymsgbuf[128];
  char *yymsg = yymsgbuf;
  YYPTRDIFF_T yymsg_alloc = sizeof yymsgbuf;

#define YYPOPSTACK(N)   (yyvsp -= (N), yyssp -= (N), yylsp -= (N))

  /* The number of symbols on the RHS of the reduced rule.
     Keep to zero when no symbol should be popped.  */
  int yylen = 0;

  YYDPRINTF ((stderr, "Starting parse\n"));

  yychar = TK_YYEMPTY; /* Cause a token to be read.  */

  yylsp[0] = yylloc;
  goto yysetstate;


/*------------------------------------------------------------.
| yynewstate -- push a new state, which is found in yystate.  |
`------------------------------------------------------------*/
yynewstate:
  /* In all cases, when you get here, the value and location stacks
     have just been pushed.  So pushing a state here evens the stacks.  */
  yyssp++;


/*--------------------------------------------------------------------.
| yysetstate -- set current state (the top of the stack) to yystate.  |
`--------------------------------------------------------------------*/
yysetstate:
  YYDPRINTF ((stderr, "Entering state %d\n", yystate));
  YY_ASSERT (0 <= yystate && yystate < YYNSTATES);
  YY_IGNORE_USELESS_CAST_BEGIN
  *yyssp = YY_CAST (yy_state_t, yystate);
  YY_IGNORE_USELESS_CAST_END
  YY_STACK_PRINT (yyss, yyssp);

  if (yyss + yystacksize - 1 <= yyssp)
#if !defined yyoverflow && !defined YYSTACK_RELOCATE
    YYNOMEM;
#else
    {
      /* Get the current used size of the three stacks, in elements.  */
      YYPTRDIFF_T yysize = yyssp - yyss + 1;

# if defined yyoverflow
      {
        /* Give user a chance to reallocate the stack.  Use copies of
           these so that the &'s don't force the real ones into
           memory.  */
        yy_state_t *yyss1 = yyss;
        YYSTYPE *yyvs1 = yyvs;
        YYLTYPE *yyls1 = yyls;

        /* Each stack pointer address is followed by the size of the
           data in use in that stack, in bytes.  This used to be a
           conditional around just the two extra args, but that might
           be undefined if yyoverflow is a macro.  */
        yyoverflow (YY_("memory exhausted"),
                    &yyss1, yysize * YYSIZEOF (*yyssp),
                    &yyvs1, yysize * YYSIZEOF (*yyvsp),
                    &yyls1, yysize * YYSIZEOF (*yylsp),
                    &yystacksize);
        yyss = yyss1;
        yyvs = yyvs1;
        yyls = yyls1;
      }
# else /* defined YYSTACK_RELOCATE */
      /* Extend the stack our own way.  */
      if (YYMAXDEPTH <= yystacksize)
        YYNOMEM;
      yystacksize *= 2;
      if (YYMAXDEPTH < yystacksize)
        yystacksize = YYMAXDEPTH;

      {
        yy_state_t *yyss1 = yyss;
        union yyalloc *yyptr =
          YY_CAST (union yyalloc *,
                   YYSTACK_ALLOC (YY_CAST (YYSIZE_T, YYSTACK_BYTES (yystacksize))));
        if (! yyptr)
          YYNOMEM;
        YYSTACK_RELOCATE (yyss_alloc, yyss);
        YYSTACK_RELOCATE (yyvs_alloc, yyvs);
        YYSTACK_RELOCATE (yyls_alloc, yyls);
#  undef YYSTACK_RELOCATE
        if (yyss1 != yyssa)
          YYSTACK_FREE (yyss1);
      }
# endif

      yyssp = yyss + yysize - 1;
      yyvsp = yyvs + yysize - 1;
      yylsp = yyls + yysize - 1;

      YY_IGNORE_USELESS_CAST_BEGIN
      YYDPRINTF ((stderr, "Stack size increased to %ld\n",
                  YY_CAST (long, yystacksize)));
      YY_IGNORE_USELESS_CAST_END

      if (yyss + yystacksize - 1 <= yyssp)
        YYABORT;
    }
#endif /* !defined yyoverflow && !defined YYSTACK_RELOCATE */


  if (yystate == YYFINAL)
    YYACCEPT;

  goto yybackup;


/*-----------.
| yybackup.  |
`-----------*/
yybackup:
  /* Do appropriate processing given the current state.  Read a
     lookahead token if we need one and don't already have one.  */

  /* First try to decide what to do without reference to lookahead token.  */
  yyn = yypact[yystate];
  if (yypact_value_is_default (yyn))
    goto yydefault;

  /* Not known => get a lookahead token if don't already have one.  */

  /* YYCHAR is either empty, or end-of-input, or a valid lookahead.  */
  if (yychar == TK_YYEMPTY)
    {
      YYDPRINTF ((stderr, "Reading a token\n"));
      yychar = yylex (&yylval, &yylloc, p);
    }

  if (yychar <= TK_YYEOF)
    {
      yychar = TK_YYEOF;
      yytoken = YYSYMBOL_YYEOF;
      YYDPRINTF ((stderr, "Now at end of input.\n"));
    }
  else if (yychar == TK_YYerror)
    {
      /* The scanner already issued an error message, process directly
         to error recovery.  But do not keep the error token as
         lookahead, it is too special and may lead us to an endless
         loop in error recovery. */
      yychar = TK_YYUNDEF;
      yytoken = YYSYMBOL_YYerror;
      yyerror_range[1] = yylloc;
      goto yyerrlab1;
    }
  else
    {
      yytoken = YYTRANSLATE (yychar);
      YY_SYMBOL_PRINT ("Next token is", yytoken, &yylval, &yylloc);
    }

  /* If the proper action on seeing token YYTOKEN is to reduce or to
     detect an error, take that action.  */
  yyn += yytoken;
  if (yyn < 0 || YYLAST < yyn || yycheck[yyn] != yytoken)
    goto yydefault;
  yyn = yytable[yyn];
  if (yyn <= 0)
    {
      if (yytable_value_is_error (yyn))
        goto yyerrlab;
      yyn = -yyn;
      goto yyreduce;
    }

  /* Count tokens shifted since error; after three, turn off error
     status.  */
  if (yyerrstatus)
    yyerrstatus--;

  /* Shift the lookahead token.  */
  YY_SYMBOL_PRINT ("Shifting", yytoken, &yylval, &yylloc);
  yystate = yyn;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END
  *++yylsp = yylloc;

  /* Discard the shifted token.  */
  yychar = TK_YYEMPTY;
  goto yynewstate;


/*-----------------------------------------------------------.
| yydefault -- do the default action for the current state.  |
`-----------------------------------------------------------*/
yydefault:
  yyn = yydefact[yystate];
  if (yyn == 0)
    goto yyerrlab;
  goto yyreduce;


/*-----------------------------.
| yyreduce -- do a reduction.  |
`-----------------------------*/
yyreduce:
  /* yyn is the number of a rule to reduce with.  */
  yylen = yyr2[yyn];

  /* If YYLEN is nonzero, implement the default value of the action:
     '$$ = $1'.

     Otherwise, the following line sets YYVAL to garbage.
     This behavior is undocumented and Bison
     users should not rely upon it.  Assigning to YYVAL
     unconditionally makes the parser a bit smaller, and it avoids a
     GCC warning that YYVAL may be used uninitialized.  */
  yyval = yyvsp[1-yylen];

  /* Default location. */
  YYLLOC_DEFAULT (yyloc, (yylsp - yylen), yylen);
  yyerror_range[1] = yyloc;
  YY_REDUCE_PRINT (yyn);
  switch (yyn)
    {
  case 3: /* top: START_EXPR testlist opt_newlines  */
#line 163 "compiler/parser.y"
                                           { p->result = (yyvsp[-1].node); }
#line 1877 "build-noblas/parser.c"
    break;

  case 6: /* file: %empty  */
#line 172 "compiler/parser.y"
                                          { p->result = mk(p, ND_BLOCK, (yyloc)); }
#line 1883 "build-noblas/parser.c"
    break;

  case 7: /* file: stmts  */
#line 173 "compiler/parser.y"
                                          { p->result = (yyvsp[0].node); }
#line 1889 "build-noblas/parser.c"
    break;

  case 8: /* stmts: stmt  */
#line 177 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); if ((yyvsp[0].node)) push(p, (yyval.node), (yyvsp[0].node)); }
#line 1895 "build-noblas/parser.c"
    break;

  case 9: /* stmts: stmts stmt  */
#line 178 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); if ((yyvsp[0].node)) push(p, (yyval.node), (yyvsp[0].node)); (yyval.node)->span.end = (yylsp[0]).end; }
#line 1901 "build-noblas/parser.c"
    break;

  case 10: /* stmt: simple_stmt "end of line"  */
#line 182 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 1907 "build-noblas/parser.c"
    break;

  case 11: /* stmt: compound_stmt  */
#line 183 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 1913 "build-noblas/parser.c"
    break;

  case 12: /* stmt: error "end of line"  */
#line 184 "compiler/parser.y"
                                          { (yyval.node) = NULL; yyerrok; }
#line 1919 "build-noblas/parser.c"
    break;

  case 13: /* stmt: "indent" error "unindent"  */
#line 185 "compiler/parser.y"
                                          { (yyval.node) = NULL; }
#line 1925 "build-noblas/parser.c"
    break;

  case 14: /* simple_stmt: small_stmt  */
#line 189 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 1931 "build-noblas/parser.c"
    break;

  case 15: /* simple_stmt: simple_stmt ';' small_stmt  */
#line 190 "compiler/parser.y"
                                 {
          if ((yyvsp[-2].node)->kind == ND_BLOCK) { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
          else { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), (yyvsp[-2].node)); push(p, (yyval.node), (yyvsp[0].node)); }
      }
#line 1940 "build-noblas/parser.c"
    break;

  case 16: /* simple_stmt: simple_stmt ';'  */
#line 194 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 1946 "build-noblas/parser.c"
    break;

  case 17: /* small_stmt: expr_stmt  */
#line 198 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 1952 "build-noblas/parser.c"
    break;

  case 18: /* small_stmt: "pass"  */
#line 199 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PASS, (yyloc)); }
#line 1958 "build-noblas/parser.c"
    break;

  case 19: /* small_stmt: "break"  */
#line 200 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BREAK, (yyloc)); }
#line 1964 "build-noblas/parser.c"
    break;

  case 20: /* small_stmt: "continue"  */
#line 201 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_CONTINUE, (yyloc)); }
#line 1970 "build-noblas/parser.c"
    break;

  case 21: /* small_stmt: "return"  */
#line 202 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_RETURN, (yyloc)); }
#line 1976 "build-noblas/parser.c"
    break;

  case 22: /* small_stmt: "return" testlist  */
#line 203 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_RETURN, (yyloc)); (yyval.node)->lhs = (yyvsp[0].node); }
#line 1982 "build-noblas/parser.c"
    break;

  case 23: /* small_stmt: "assert" test  */
#line 204 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ASSERT, (yyloc)); (yyval.node)->cond = (yyvsp[0].node); }
#line 1988 "build-noblas/parser.c"
    break;

  case 24: /* small_stmt: "assert" test ',' test  */
#line 205 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ASSERT, (yyloc)); (yyval.node)->cond = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node); }
#line 1994 "build-noblas/parser.c"
    break;

  case 25: /* small_stmt: import_stmt  */
#line 206 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2000 "build-noblas/parser.c"
    break;

  case 26: /* small_stmt: "unsupported keyword"  */
#line 207 "compiler/parser.y"
                  {
          error_at(p->c, S(p, (yylsp[0])), "'%.*s' is not supported in .kdl files",
                   (yylsp[0]).end - (yylsp[0]).start, p->file->text + (yylsp[0]).start - p->base);
          YYERROR;
      }
#line 2010 "build-noblas/parser.c"
    break;

  case 27: /* expr_stmt: testlist  */
#line 215 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_EXPR_STMT, (yyloc)); (yyval.node)->lhs = (yyvsp[0].node); }
#line 2016 "build-noblas/parser.c"
    break;

  case 28: /* expr_stmt: assign_chain testlist  */
#line 216 "compiler/parser.y"
                            {
          (yyval.node) = (yyvsp[-1].node); (yyval.node)->rhs = (yyvsp[0].node); (yyval.node)->span = S(p, (yyloc));
      }
#line 2024 "build-noblas/parser.c"
    break;

  case 29: /* expr_stmt: test "augmented assignment" testlist  */
#line 219 "compiler/parser.y"
                              {
          (yyval.node) = mk(p, ND_AUGASSIGN, (yyloc)); (yyval.node)->op = (yyvsp[-1].op); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node);
      }
#line 2032 "build-noblas/parser.c"
    break;

  case 30: /* assign_chain: testlist '='  */
#line 226 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ASSIGN, (yyloc)); push(p, (yyval.node), (yyvsp[-1].node)); }
#line 2038 "build-noblas/parser.c"
    break;

  case 31: /* assign_chain: assign_chain testlist '='  */
#line 227 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[-1].node)); }
#line 2044 "build-noblas/parser.c"
    break;

  case 32: /* import_stmt: "import" dotted_as_names  */
#line 231 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); (yyval.node)->span = S(p, (yyloc)); }
#line 2050 "build-noblas/parser.c"
    break;

  case 33: /* import_stmt: "from" dotted_name "import" import_as_names  */
#line 232 "compiler/parser.y"
                                              {
          (yyval.node) = (yyvsp[0].node); (yyval.node)->kind = ND_FROM_IMPORT; (yyval.node)->name = (yyvsp[-2].str); (yyval.node)->span = S(p, (yyloc));
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-2])); (yyval.node)->lhs->name = (yyvsp[-2].str);
      }
#line 2059 "build-noblas/parser.c"
    break;

  case 34: /* import_stmt: "from" dotted_name "import" '(' import_as_names opt_comma ')'  */
#line 236 "compiler/parser.y"
                                                                {
          (yyval.node) = (yyvsp[-2].node); (yyval.node)->kind = ND_FROM_IMPORT; (yyval.node)->name = (yyvsp[-5].str); (yyval.node)->span = S(p, (yyloc));
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-5])); (yyval.node)->lhs->name = (yyvsp[-5].str);
      }
#line 2068 "build-noblas/parser.c"
    break;

  case 35: /* import_stmt: "from" '.' error  */
#line 240 "compiler/parser.y"
                                          {
          error_at(p->c, S(p, (yylsp[-1])), "relative imports are not supported in .kdl files");
          YYERROR;
      }
#line 2077 "build-noblas/parser.c"
    break;

  case 38: /* dotted_as_names: dotted_as_name  */
#line 252 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_IMPORT, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2083 "build-noblas/parser.c"
    break;

  case 39: /* dotted_as_names: dotted_as_names ',' dotted_as_name  */
#line 253 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2089 "build-noblas/parser.c"
    break;

  case 40: /* dotted_as_name: dotted_name  */
#line 257 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ALIAS, (yyloc)); (yyval.node)->name = (yyvsp[0].str); }
#line 2095 "build-noblas/parser.c"
    break;

  case 41: /* dotted_as_name: dotted_name "as" "name"  */
#line 258 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ALIAS, (yyloc)); (yyval.node)->name = (yyvsp[-2].str); (yyval.node)->alias = (yyvsp[0].str); }
#line 2101 "build-noblas/parser.c"
    break;

  case 42: /* import_as_names: import_as_name  */
#line 262 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_FROM_IMPORT, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2107 "build-noblas/parser.c"
    break;

  case 43: /* import_as_names: import_as_names ',' import_as_name  */
#line 263 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2113 "build-noblas/parser.c"
    break;

  case 44: /* import_as_name: "name"  */
#line 267 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ALIAS, (yyloc)); (yyval.node)->name = (yyvsp[0].str); }
#line 2119 "build-noblas/parser.c"
    break;

  case 45: /* import_as_name: "name" "as" "name"  */
#line 268 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_ALIAS, (yyloc)); (yyval.node)->name = (yyvsp[-2].str); (yyval.node)->alias = (yyvsp[0].str); }
#line 2125 "build-noblas/parser.c"
    break;

  case 46: /* import_as_name: '*'  */
#line 269 "compiler/parser.y"
          {
          error_at(p->c, S(p, (yylsp[0])), "'from ... import *' is not supported; import the names you use");
          (yyval.node) = mk(p, ND_ALIAS, (yyloc)); (yyval.node)->name = "*";
      }
#line 2134 "build-noblas/parser.c"
    break;

  case 47: /* dotted_name: "name"  */
#line 276 "compiler/parser.y"
                                          { (yyval.str) = (yyvsp[0].str); }
#line 2140 "build-noblas/parser.c"
    break;

  case 48: /* dotted_name: dotted_name '.' "name"  */
#line 277 "compiler/parser.y"
                                          { (yyval.str) = arena_printf(p->c->arena, "%s.%s", (yyvsp[-2].str), (yyvsp[0].str)); }
#line 2146 "build-noblas/parser.c"
    break;

  case 49: /* compound_stmt: if_stmt  */
#line 281 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2152 "build-noblas/parser.c"
    break;

  case 50: /* compound_stmt: for_stmt  */
#line 282 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2158 "build-noblas/parser.c"
    break;

  case 51: /* compound_stmt: while_stmt  */
#line 283 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2164 "build-noblas/parser.c"
    break;

  case 52: /* compound_stmt: def_stmt  */
#line 284 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2170 "build-noblas/parser.c"
    break;

  case 53: /* compound_stmt: class_stmt  */
#line 285 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2176 "build-noblas/parser.c"
    break;

  case 54: /* compound_stmt: decorators def_stmt  */
#line 286 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_DECORATED, (yyloc)); (yyval.node)->items = (yyvsp[-1].node)->items; (yyval.node)->lhs = (yyvsp[0].node); }
#line 2182 "build-noblas/parser.c"
    break;

  case 55: /* compound_stmt: decorators class_stmt  */
#line 287 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_DECORATED, (yyloc)); (yyval.node)->items = (yyvsp[-1].node)->items; (yyval.node)->lhs = (yyvsp[0].node); }
#line 2188 "build-noblas/parser.c"
    break;

  case 56: /* decorators: decorator  */
#line 291 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2194 "build-noblas/parser.c"
    break;

  case 57: /* decorators: decorators decorator  */
#line 292 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-1].node), (yyvsp[0].node)); }
#line 2200 "build-noblas/parser.c"
    break;

  case 58: /* decorator: '@' test "end of line"  */
#line 296 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 2206 "build-noblas/parser.c"
    break;

  case 59: /* block: ':' suite  */
#line 300 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2212 "build-noblas/parser.c"
    break;

  case 60: /* suite: simple_stmt "end of line"  */
#line 304 "compiler/parser.y"
                          {
          if ((yyvsp[-1].node)->kind == ND_BLOCK) (yyval.node) = (yyvsp[-1].node);
          else { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), (yyvsp[-1].node)); }
      }
#line 2221 "build-noblas/parser.c"
    break;

  case 61: /* suite: "end of line" "indent" stmts "unindent"  */
#line 308 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 2227 "build-noblas/parser.c"
    break;

  case 62: /* if_stmt: "if" test block elif_tail  */
#line 312 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_IF, (yyloc)); (yyval.node)->cond = (yyvsp[-2].node); (yyval.node)->body = (yyvsp[-1].node); (yyval.node)->orelse = (yyvsp[0].node); }
#line 2233 "build-noblas/parser.c"
    break;

  case 63: /* elif_tail: %empty  */
#line 316 "compiler/parser.y"
                                          { (yyval.node) = NULL; }
#line 2239 "build-noblas/parser.c"
    break;

  case 64: /* elif_tail: "else" block  */
#line 317 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2245 "build-noblas/parser.c"
    break;

  case 65: /* elif_tail: "elif" test block elif_tail  */
#line 318 "compiler/parser.y"
                                {
          Node *n = mk(p, ND_IF, (yyloc)); n->cond = (yyvsp[-2].node); n->body = (yyvsp[-1].node); n->orelse = (yyvsp[0].node);
          (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), n);
      }
#line 2254 "build-noblas/parser.c"
    break;

  case 66: /* for_stmt: "for" exprlist "in" testlist block  */
#line 325 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_FOR, (yyloc)); (yyval.node)->target = (yyvsp[-3].node); (yyval.node)->iter = (yyvsp[-1].node); (yyval.node)->body = (yyvsp[0].node); }
#line 2260 "build-noblas/parser.c"
    break;

  case 67: /* for_stmt: "for" exprlist "in" testlist block "else" block  */
#line 326 "compiler/parser.y"
                                                {
          (yyval.node) = mk(p, ND_FOR, (yyloc)); (yyval.node)->target = (yyvsp[-5].node); (yyval.node)->iter = (yyvsp[-3].node); (yyval.node)->body = (yyvsp[-2].node); (yyval.node)->orelse = (yyvsp[0].node);
      }
#line 2268 "build-noblas/parser.c"
    break;

  case 68: /* while_stmt: "while" test block  */
#line 332 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_WHILE, (yyloc)); (yyval.node)->cond = (yyvsp[-1].node); (yyval.node)->body = (yyvsp[0].node); }
#line 2274 "build-noblas/parser.c"
    break;

  case 69: /* def_stmt: "def" "name" '(' params ')' block  */
#line 336 "compiler/parser.y"
                                    {
          (yyval.node) = mk(p, ND_DEF, (yyloc)); (yyval.node)->name = (yyvsp[-4].str); (yyval.node)->items = (yyvsp[-2].node)->items; (yyval.node)->body = (yyvsp[0].node);
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-4])); (yyval.node)->lhs->name = (yyvsp[-4].str);
      }
#line 2283 "build-noblas/parser.c"
    break;

  case 70: /* def_stmt: "def" "name" '(' params ')' "->" test block  */
#line 340 "compiler/parser.y"
                                               {
          (yyval.node) = mk(p, ND_DEF, (yyloc)); (yyval.node)->name = (yyvsp[-6].str); (yyval.node)->items = (yyvsp[-4].node)->items; (yyval.node)->body = (yyvsp[0].node);
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-6])); (yyval.node)->lhs->name = (yyvsp[-6].str);
      }
#line 2292 "build-noblas/parser.c"
    break;

  case 71: /* params: %empty  */
#line 347 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); }
#line 2298 "build-noblas/parser.c"
    break;

  case 72: /* params: param_list opt_comma  */
#line 348 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 2304 "build-noblas/parser.c"
    break;

  case 73: /* param_list: param  */
#line 352 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2310 "build-noblas/parser.c"
    break;

  case 74: /* param_list: param_list ',' param  */
#line 353 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2316 "build-noblas/parser.c"
    break;

  case 75: /* param: "name"  */
#line 357 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[0].str); }
#line 2322 "build-noblas/parser.c"
    break;

  case 76: /* param: "name" ':' test  */
#line 358 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[-2].str); }
#line 2328 "build-noblas/parser.c"
    break;

  case 77: /* param: "name" '=' test  */
#line 359 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[-2].str); (yyval.node)->dflt = (yyvsp[0].node); }
#line 2334 "build-noblas/parser.c"
    break;

  case 78: /* param: "name" ':' test '=' test  */
#line 360 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[-4].str); (yyval.node)->dflt = (yyvsp[0].node); }
#line 2340 "build-noblas/parser.c"
    break;

  case 79: /* param: '*' "name"  */
#line 361 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[0].str); (yyval.node)->param_kind = 1; }
#line 2346 "build-noblas/parser.c"
    break;

  case 80: /* param: '*'  */
#line 362 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = "*"; (yyval.node)->param_kind = 1; }
#line 2352 "build-noblas/parser.c"
    break;

  case 81: /* param: "**" "name"  */
#line 363 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_PARAM, (yyloc)); (yyval.node)->name = (yyvsp[0].str); (yyval.node)->param_kind = 2; }
#line 2358 "build-noblas/parser.c"
    break;

  case 82: /* class_stmt: "class" "name" block  */
#line 367 "compiler/parser.y"
                       {
          (yyval.node) = mk(p, ND_CLASS, (yyloc)); (yyval.node)->name = (yyvsp[-1].str); (yyval.node)->body = (yyvsp[0].node);
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-1])); (yyval.node)->lhs->name = (yyvsp[-1].str);
      }
#line 2367 "build-noblas/parser.c"
    break;

  case 83: /* class_stmt: "class" "name" '(' ')' block  */
#line 371 "compiler/parser.y"
                               {
          (yyval.node) = mk(p, ND_CLASS, (yyloc)); (yyval.node)->name = (yyvsp[-3].str); (yyval.node)->body = (yyvsp[0].node);
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-3])); (yyval.node)->lhs->name = (yyvsp[-3].str);
      }
#line 2376 "build-noblas/parser.c"
    break;

  case 84: /* class_stmt: "class" "name" '(' arglist ')' block  */
#line 375 "compiler/parser.y"
                                       {
          (yyval.node) = mk(p, ND_CLASS, (yyloc)); (yyval.node)->name = (yyvsp[-4].str); (yyval.node)->items = (yyvsp[-2].node)->items; (yyval.node)->body = (yyvsp[0].node);
          (yyval.node)->lhs = mk(p, ND_NAME, (yylsp[-4])); (yyval.node)->lhs->name = (yyvsp[-4].str);
      }
#line 2385 "build-noblas/parser.c"
    break;

  case 85: /* testlist: testlist_items  */
#line 384 "compiler/parser.y"
                                          { (yyval.node) = seq_or_single(p, (yyvsp[0].node), false, (yyloc)); }
#line 2391 "build-noblas/parser.c"
    break;

  case 86: /* testlist: testlist_items ','  */
#line 385 "compiler/parser.y"
                                          { (yyval.node) = seq_or_single(p, (yyvsp[-1].node), true, (yyloc)); }
#line 2397 "build-noblas/parser.c"
    break;

  case 87: /* testlist_items: test  */
#line 389 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_TUPLE, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2403 "build-noblas/parser.c"
    break;

  case 88: /* testlist_items: testlist_items ',' test  */
#line 390 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2409 "build-noblas/parser.c"
    break;

  case 89: /* exprlist: exprlist_items  */
#line 395 "compiler/parser.y"
                                          { (yyval.node) = seq_or_single(p, (yyvsp[0].node), false, (yyloc)); }
#line 2415 "build-noblas/parser.c"
    break;

  case 90: /* exprlist: exprlist_items ','  */
#line 396 "compiler/parser.y"
                                          { (yyval.node) = seq_or_single(p, (yyvsp[-1].node), true, (yyloc)); }
#line 2421 "build-noblas/parser.c"
    break;

  case 91: /* exprlist_items: expr  */
#line 400 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_TUPLE, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2427 "build-noblas/parser.c"
    break;

  case 92: /* exprlist_items: exprlist_items ',' expr  */
#line 401 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2433 "build-noblas/parser.c"
    break;

  case 93: /* test: or_test  */
#line 405 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2439 "build-noblas/parser.c"
    break;

  case 94: /* test: or_test "if" or_test "else" test  */
#line 406 "compiler/parser.y"
                                   {
          (yyval.node) = mk(p, ND_IFEXP, (yyloc)); (yyval.node)->lhs = (yyvsp[-4].node); (yyval.node)->cond = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node);
      }
#line 2447 "build-noblas/parser.c"
    break;

  case 95: /* or_test: and_test  */
#line 412 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2453 "build-noblas/parser.c"
    break;

  case 96: /* or_test: or_test "or" and_test  */
#line 413 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_OR, (yyloc)); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node); }
#line 2459 "build-noblas/parser.c"
    break;

  case 97: /* and_test: not_test  */
#line 417 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2465 "build-noblas/parser.c"
    break;

  case 98: /* and_test: and_test "and" not_test  */
#line 418 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_AND, (yyloc)); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node); }
#line 2471 "build-noblas/parser.c"
    break;

  case 99: /* not_test: "not" not_test  */
#line 422 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_NOT, (yyloc)); (yyval.node)->lhs = (yyvsp[0].node); }
#line 2477 "build-noblas/parser.c"
    break;

  case 100: /* not_test: comparison  */
#line 423 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2483 "build-noblas/parser.c"
    break;

  case 101: /* comparison: expr  */
#line 427 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2489 "build-noblas/parser.c"
    break;

  case 102: /* comparison: comparison comp_op expr  */
#line 428 "compiler/parser.y"
                                          { (yyval.node) = compare(p, (yyvsp[-2].node), (yyvsp[-1].op), (yyvsp[0].node), (yyloc)); }
#line 2495 "build-noblas/parser.c"
    break;

  case 103: /* comp_op: '<'  */
#line 432 "compiler/parser.y"
                                          { (yyval.op) = OP_LT; }
#line 2501 "build-noblas/parser.c"
    break;

  case 104: /* comp_op: '>'  */
#line 433 "compiler/parser.y"
                                          { (yyval.op) = OP_GT; }
#line 2507 "build-noblas/parser.c"
    break;

  case 105: /* comp_op: "=="  */
#line 434 "compiler/parser.y"
                                          { (yyval.op) = OP_EQ; }
#line 2513 "build-noblas/parser.c"
    break;

  case 106: /* comp_op: "!="  */
#line 435 "compiler/parser.y"
                                          { (yyval.op) = OP_NE; }
#line 2519 "build-noblas/parser.c"
    break;

  case 107: /* comp_op: "<="  */
#line 436 "compiler/parser.y"
                                          { (yyval.op) = OP_LE; }
#line 2525 "build-noblas/parser.c"
    break;

  case 108: /* comp_op: ">="  */
#line 437 "compiler/parser.y"
                                          { (yyval.op) = OP_GE; }
#line 2531 "build-noblas/parser.c"
    break;

  case 109: /* comp_op: "in"  */
#line 438 "compiler/parser.y"
                                          { (yyval.op) = OP_IN; }
#line 2537 "build-noblas/parser.c"
    break;

  case 110: /* comp_op: "not" "in"  */
#line 439 "compiler/parser.y"
                                          { (yyval.op) = OP_NOT_IN; }
#line 2543 "build-noblas/parser.c"
    break;

  case 111: /* comp_op: "is"  */
#line 440 "compiler/parser.y"
                                          { (yyval.op) = OP_IS; }
#line 2549 "build-noblas/parser.c"
    break;

  case 112: /* comp_op: "is" "not"  */
#line 441 "compiler/parser.y"
                                          { (yyval.op) = OP_IS_NOT; }
#line 2555 "build-noblas/parser.c"
    break;

  case 113: /* expr: factor  */
#line 445 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2561 "build-noblas/parser.c"
    break;

  case 114: /* expr: expr '+' expr  */
#line 446 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_ADD, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2567 "build-noblas/parser.c"
    break;

  case 115: /* expr: expr '-' expr  */
#line 447 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_SUB, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2573 "build-noblas/parser.c"
    break;

  case 116: /* expr: expr '*' expr  */
#line 448 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_MUL, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2579 "build-noblas/parser.c"
    break;

  case 117: /* expr: expr '/' expr  */
#line 449 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_DIV, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2585 "build-noblas/parser.c"
    break;

  case 118: /* expr: expr "//" expr  */
#line 450 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_FLOORDIV, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2591 "build-noblas/parser.c"
    break;

  case 119: /* expr: expr '%' expr  */
#line 451 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_MOD, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2597 "build-noblas/parser.c"
    break;

  case 120: /* expr: expr '@' expr  */
#line 452 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_MATMUL, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2603 "build-noblas/parser.c"
    break;

  case 121: /* factor: '-' factor  */
#line 456 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_UNARY, (yyloc)); (yyval.node)->op = OP_NEG; (yyval.node)->lhs = (yyvsp[0].node); }
#line 2609 "build-noblas/parser.c"
    break;

  case 122: /* factor: '+' factor  */
#line 457 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_UNARY, (yyloc)); (yyval.node)->op = OP_POS; (yyval.node)->lhs = (yyvsp[0].node); }
#line 2615 "build-noblas/parser.c"
    break;

  case 123: /* factor: power  */
#line 458 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2621 "build-noblas/parser.c"
    break;

  case 124: /* power: atom_expr  */
#line 462 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2627 "build-noblas/parser.c"
    break;

  case 125: /* power: atom_expr "**" factor  */
#line 463 "compiler/parser.y"
                                          { (yyval.node) = binop(p, OP_POW, (yyvsp[-2].node), (yyvsp[0].node), (yyloc)); }
#line 2633 "build-noblas/parser.c"
    break;

  case 126: /* atom_expr: atom  */
#line 467 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2639 "build-noblas/parser.c"
    break;

  case 127: /* atom_expr: atom_expr '(' ')'  */
#line 468 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_CALL, (yyloc)); (yyval.node)->fn = (yyvsp[-2].node); }
#line 2645 "build-noblas/parser.c"
    break;

  case 128: /* atom_expr: atom_expr '(' arglist ')'  */
#line 469 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_CALL, (yyloc)); (yyval.node)->fn = (yyvsp[-3].node); (yyval.node)->items = (yyvsp[-1].node)->items; }
#line 2651 "build-noblas/parser.c"
    break;

  case 129: /* atom_expr: atom_expr '[' subscript ']'  */
#line 470 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_INDEX, (yyloc)); (yyval.node)->lhs = (yyvsp[-3].node); (yyval.node)->rhs = (yyvsp[-1].node); }
#line 2657 "build-noblas/parser.c"
    break;

  case 130: /* atom_expr: atom_expr '.' "name"  */
#line 471 "compiler/parser.y"
                         {
          (yyval.node) = mk(p, ND_ATTR, (yyloc)); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->name = (yyvsp[0].str);
          (yyval.node)->rhs = mk(p, ND_NAME, (yylsp[0])); (yyval.node)->rhs->name = (yyvsp[0].str);
      }
#line 2666 "build-noblas/parser.c"
    break;

  case 131: /* subscript: testlist  */
#line 478 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2672 "build-noblas/parser.c"
    break;

  case 132: /* subscript: opt_test ':' opt_test  */
#line 479 "compiler/parser.y"
                                          {
          (yyval.node) = mk(p, ND_SLICE, (yyloc)); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node);
      }
#line 2680 "build-noblas/parser.c"
    break;

  case 133: /* subscript: opt_test ':' opt_test ':' opt_test  */
#line 482 "compiler/parser.y"
                                          {
          (yyval.node) = mk(p, ND_SLICE, (yyloc)); (yyval.node)->lhs = (yyvsp[-4].node); (yyval.node)->rhs = (yyvsp[-2].node); (yyval.node)->cond = (yyvsp[0].node);
      }
#line 2688 "build-noblas/parser.c"
    break;

  case 134: /* opt_test: %empty  */
#line 488 "compiler/parser.y"
                                          { (yyval.node) = NULL; }
#line 2694 "build-noblas/parser.c"
    break;

  case 135: /* opt_test: test  */
#line 489 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2700 "build-noblas/parser.c"
    break;

  case 136: /* atom: "name"  */
#line 493 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_NAME, (yyloc)); (yyval.node)->name = (yyvsp[0].str); }
#line 2706 "build-noblas/parser.c"
    break;

  case 137: /* atom: "integer"  */
#line 494 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_INT, (yyloc)); (yyval.node)->ival = (yyvsp[0].ival); }
#line 2712 "build-noblas/parser.c"
    break;

  case 138: /* atom: "float"  */
#line 495 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_FLOAT, (yyloc)); (yyval.node)->fval = (yyvsp[0].fval); }
#line 2718 "build-noblas/parser.c"
    break;

  case 139: /* atom: strings  */
#line 496 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2724 "build-noblas/parser.c"
    break;

  case 140: /* atom: "None"  */
#line 497 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_NONE, (yyloc)); }
#line 2730 "build-noblas/parser.c"
    break;

  case 141: /* atom: "True"  */
#line 498 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_TRUE, (yyloc)); }
#line 2736 "build-noblas/parser.c"
    break;

  case 142: /* atom: "False"  */
#line 499 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_FALSE, (yyloc)); }
#line 2742 "build-noblas/parser.c"
    break;

  case 143: /* atom: '(' ')'  */
#line 500 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_TUPLE, (yyloc)); }
#line 2748 "build-noblas/parser.c"
    break;

  case 144: /* atom: '(' testlist ')'  */
#line 501 "compiler/parser.y"
                       {
          (yyval.node) = (yyvsp[-1].node);
          if ((yyval.node)->kind == ND_COMPARE) (yyval.node)->dots = 1;     // parenthesised: no chaining
          if ((yyval.node)->kind == ND_TUPLE) (yyval.node)->span = S(p, (yyloc));
      }
#line 2758 "build-noblas/parser.c"
    break;

  case 145: /* atom: '(' test comp_for ')'  */
#line 506 "compiler/parser.y"
                            {
          error_at(p->c, S(p, (yyloc)), "generator expressions are not supported; use a list comprehension [...]");
          (yyval.node) = mk(p, ND_NONE, (yyloc));
      }
#line 2767 "build-noblas/parser.c"
    break;

  case 146: /* atom: '[' ']'  */
#line 510 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_LIST, (yyloc)); }
#line 2773 "build-noblas/parser.c"
    break;

  case 147: /* atom: '[' list_body ']'  */
#line 511 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); (yyval.node)->span = S(p, (yyloc)); }
#line 2779 "build-noblas/parser.c"
    break;

  case 148: /* atom: '{' '}'  */
#line 512 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_DICT, (yyloc)); }
#line 2785 "build-noblas/parser.c"
    break;

  case 149: /* atom: '{' dict_body '}'  */
#line 513 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); (yyval.node)->span = S(p, (yyloc)); }
#line 2791 "build-noblas/parser.c"
    break;

  case 150: /* atom: '(' error ')'  */
#line 514 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_NONE, (yyloc)); }
#line 2797 "build-noblas/parser.c"
    break;

  case 151: /* atom: '[' error ']'  */
#line 515 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_NONE, (yyloc)); }
#line 2803 "build-noblas/parser.c"
    break;

  case 152: /* list_body: testlist_items opt_comma  */
#line 519 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); (yyval.node)->kind = ND_LIST; }
#line 2809 "build-noblas/parser.c"
    break;

  case 153: /* list_body: test comp_for  */
#line 520 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); (yyval.node)->lhs = (yyvsp[-1].node); }
#line 2815 "build-noblas/parser.c"
    break;

  case 154: /* comp_for: "for" exprlist "in" or_test comp_tail  */
#line 524 "compiler/parser.y"
                                        {
          (yyval.node) = mk(p, ND_LISTCOMP, (yyloc)); (yyval.node)->target = (yyvsp[-3].node); (yyval.node)->iter = (yyvsp[-1].node); (yyval.node)->cond = (yyvsp[0].node);
      }
#line 2823 "build-noblas/parser.c"
    break;

  case 155: /* comp_tail: %empty  */
#line 530 "compiler/parser.y"
                                          { (yyval.node) = NULL; }
#line 2829 "build-noblas/parser.c"
    break;

  case 156: /* comp_tail: comp_tail "if" or_test  */
#line 531 "compiler/parser.y"
                           {
          if (!(yyvsp[-2].node)) (yyval.node) = (yyvsp[0].node);
          else { (yyval.node) = mk(p, ND_AND, (yyloc)); (yyval.node)->lhs = (yyvsp[-2].node); (yyval.node)->rhs = (yyvsp[0].node); }
      }
#line 2838 "build-noblas/parser.c"
    break;

  case 157: /* dict_body: dict_items opt_comma  */
#line 538 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 2844 "build-noblas/parser.c"
    break;

  case 158: /* dict_items: test ':' test  */
#line 542 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_DICT, (yyloc)); push(p, (yyval.node), (yyvsp[-2].node)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2850 "build-noblas/parser.c"
    break;

  case 159: /* dict_items: dict_items ',' test ':' test  */
#line 543 "compiler/parser.y"
                                          { (yyval.node) = push(p, push(p, (yyvsp[-4].node), (yyvsp[-2].node)), (yyvsp[0].node)); }
#line 2856 "build-noblas/parser.c"
    break;

  case 160: /* strings: "string"  */
#line 547 "compiler/parser.y"
             {
          (yyval.node) = mk(p, ND_STR, (yyloc)); (yyval.node)->str = (yyvsp[0].s).s; (yyval.node)->slen = (yyvsp[0].s).n;
      }
#line 2864 "build-noblas/parser.c"
    break;

  case 161: /* strings: "f-string"  */
#line 550 "compiler/parser.y"
              {
          (yyval.node) = mk(p, ND_FSTR, (yyloc)); (yyval.node)->str = (yyvsp[0].s).s; (yyval.node)->slen = (yyvsp[0].s).n; (yyval.node)->ival = (yyvsp[0].s).body_off;
      }
#line 2872 "build-noblas/parser.c"
    break;

  case 162: /* strings: strings "string"  */
#line 553 "compiler/parser.y"
                     {
          if ((yyvsp[-1].node)->kind == ND_FSTR) {
              error_at(p->c, S(p, (yyloc)), "implicit concatenation with an f-string is not supported");
              (yyval.node) = (yyvsp[-1].node);
          } else {
              char *s = arena_alloc(p->c->arena, (yyvsp[-1].node)->slen + (yyvsp[0].s).n + 1);
              memcpy(s, (yyvsp[-1].node)->str, (yyvsp[-1].node)->slen);
              memcpy(s + (yyvsp[-1].node)->slen, (yyvsp[0].s).s, (yyvsp[0].s).n);
              (yyval.node) = (yyvsp[-1].node); (yyval.node)->str = s; (yyval.node)->slen += (yyvsp[0].s).n; (yyval.node)->span = S(p, (yyloc));
          }
      }
#line 2888 "build-noblas/parser.c"
    break;

  case 163: /* strings: strings "f-string"  */
#line 564 "compiler/parser.y"
                      {
          error_at(p->c, S(p, (yyloc)), "implicit concatenation with an f-string is not supported");
          (yyval.node) = (yyvsp[-1].node);
      }
#line 2897 "build-noblas/parser.c"
    break;

  case 164: /* arglist: args opt_comma  */
#line 571 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[-1].node); }
#line 2903 "build-noblas/parser.c"
    break;

  case 165: /* args: arg  */
#line 575 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_BLOCK, (yyloc)); push(p, (yyval.node), (yyvsp[0].node)); }
#line 2909 "build-noblas/parser.c"
    break;

  case 166: /* args: args ',' arg  */
#line 576 "compiler/parser.y"
                                          { (yyval.node) = push(p, (yyvsp[-2].node), (yyvsp[0].node)); }
#line 2915 "build-noblas/parser.c"
    break;

  case 167: /* arg: test  */
#line 580 "compiler/parser.y"
                                          { (yyval.node) = (yyvsp[0].node); }
#line 2921 "build-noblas/parser.c"
    break;

  case 168: /* arg: "name" '=' test  */
#line 581 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_KWARG, (yyloc)); (yyval.node)->name = (yyvsp[-2].str); (yyval.node)->rhs = (yyvsp[0].node); }
#line 2927 "build-noblas/parser.c"
    break;

  case 169: /* arg: '*' test  */
#line 582 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_STARRED, (yyloc)); (yyval.node)->lhs = (yyvsp[0].node); }
#line 2933 "build-noblas/parser.c"
    break;

  case 170: /* arg: "**" test  */
#line 583 "compiler/parser.y"
                                          { (yyval.node) = mk(p, ND_DSTAR, (yyloc)); (yyval.node)->lhs = (yyvsp[0].node); }
#line 2939 "build-noblas/parser.c"
    break;


#line 2943 "build-noblas/parser.c"

      default: break;
    }
  /* User semantic actions sometimes alter yychar, and that requires
     that yytoken be updated with the new translation.  We take the
     approach of translating immediately before every use of yytoken.
     One alternative is translating here after every semantic action,
     but that translation would be missed if the semantic action invokes
     YYABORT, YYACCEPT, or YYERROR immediately after altering yychar or
     if it invokes YYBACKUP.  In the case of YYABORT or YYACCEPT, an
     incorrect destructor might then be invoked immediately.  In the
     case of YYERROR or YYBACKUP, subsequent parser actions might lead
     to an incorrect destructor call or verbose syntax error message
     before the lookahead is translated.  */
  YY_SYMBOL_PRINT ("-> $$ =", YY_CAST (yysymbol_kind_t, yyr1[yyn]), &yyval, &yyloc);

  YYPOPSTACK (yylen);
  yylen = 0;

  *++yyvsp = yyval;
  *++yylsp = yyloc;

  /* Now 'shift' the result of the reduction.  Determine what state
     that goes to, based on the state we popped back to and the rule
     number reduced by.  */
  {
    const int yylhs = yyr1[yyn] - YYNTOKENS;
    const int yyi = yypgoto[yylhs] + *yyssp;
    yystate = (0 <= yyi && yyi <= YYLAST && yycheck[yyi] == *yyssp
               ? yytable[yyi]
               : yydefgoto[yylhs]);
  }

  goto yynewstate;


/*--------------------------------------.
| yyerrlab -- here on detecting error.  |
`--------------------------------------*/
yyerrlab:
  /* Make sure we have latest lookahead translation.  See comments at
     user semantic actions for why this is necessary.  */
  yytoken = yychar == TK_YYEMPTY ? YYSYMBOL_YYEMPTY : YYTRANSLATE (yychar);
  /* If not already recovering from an error, report this error.  */
  if (!yyerrstatus)
    {
      ++yynerrs;
      {
        yypcontext_t yyctx
          = {yyssp, yytoken, &yylloc};
        char const *yymsgp = YY_("syntax error");
        int yysyntax_error_status;
        yysyntax_error_status = yysyntax_error (&yymsg_alloc, &yymsg, &yyctx);
        if (yysyntax_error_status == 0)
          yymsgp = yymsg;
        else if (yysyntax_error_status == -1)
          {
            if (yymsg != yymsgbuf)
              YYSTACK_FREE (yymsg);
            yymsg = YY_CAST (char *,
                             YYSTACK_ALLOC (YY_CAST (YYSIZE_T, yymsg_alloc)));
            if (yymsg)
              {
                yysyntax_error_status
                  = yysyntax_error (&yymsg_alloc, &yymsg, &yyctx);
                yymsgp = yymsg;
              }
            else
              {
                yymsg = yymsgbuf;
                yymsg_alloc = sizeof yymsgbuf;
                yysyntax_error_status = YYENOMEM;
              }
          }
        yyerror (&yylloc, p, yymsgp);
        if (yysyntax_error_status == YYENOMEM)
          YYNOMEM;
      }
    }

  yyerror_range[1] = yylloc;
  if (yyerrstatus == 3)
    {
      /* If just tried and failed to reuse lookahead token after an
         error, discard it.  */

      if (yychar <= TK_YYEOF)
        {
          /* Return failure if at end of input.  */
          if (yychar == TK_YYEOF)
            YYABORT;
        }
      else
        {
          yydestruct ("Error: discarding",
                      yytoken, &yylval, &yylloc, p);
          yychar = TK_YYEMPTY;
        }
    }

  /* Else will try to reuse lookahead token after shifting the error
     token.  */
  goto yyerrlab1;


/*---------------------------------------------------.
| yyerrorlab -- error raised explicitly by YYERROR.  |
`---------------------------------------------------*/
yyerrorlab:
  /* Pacify compilers when the user code never invokes YYERROR and the
     label yyerrorlab therefore never appears in user code.  */
  if (0)
    YYERROR;
  ++yynerrs;

  /* Do not reclaim the symbols of the rule whose action triggered
     this YYERROR.  */
  YYPOPSTACK (yylen);
  yylen = 0;
  YY_STACK_PRINT (yyss, yyssp);
  yystate = *yyssp;
  goto yyerrlab1;


/*-------------------------------------------------------------.
| yyerrlab1 -- common code for both syntax error and YYERROR.  |
`-------------------------------------------------------------*/
yyerrlab1:
  yyerrstatus = 3;      /* Each real token shifted decrements this.  */

  /* Pop stack until we find a state that shifts the error token.  */
  for (;;)
    {
      yyn = yypact[yystate];
      if (!yypact_value_is_default (yyn))
        {
          yyn += YYSYMBOL_YYerror;
          if (0 <= yyn && yyn <= YYLAST && yycheck[yyn] == YYSYMBOL_YYerror)
            {
              yyn = yytable[yyn];
              if (0 < yyn)
                break;
            }
        }

      /* Pop the current state because it cannot handle the error token.  */
      if (yyssp == yyss)
        YYABORT;

      yyerror_range[1] = *yylsp;
      yydestruct ("Error: popping",
                  YY_ACCESSING_SYMBOL (yystate), yyvsp, yylsp, p);
      YYPOPSTACK (1);
      yystate = *yyssp;
      YY_STACK_PRINT (yyss, yyssp);
    }

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END

  yyerror_range[2] = yylloc;
  ++yylsp;
  YYLLOC_DEFAULT (*yylsp, yyerror_range, 2);

  /* Shift the error token.  */
  YY_SYMBOL_PRINT ("Shifting", YY_ACCESSING_SYMBOL (yyn), yyvsp, yylsp);

  yystate = yyn;
  goto yynewstate;


/*-------------------------------------.
| yyacceptlab -- YYACCEPT comes here.  |
`-------------------------------------*/
yyacceptlab:
  yyresult = 0;
  goto yyreturnlab;


/*-----------------------------------.
| yyabortlab -- YYABORT comes here.  |
`-----------------------------------*/
yyabortlab:
  yyresult = 1;
  goto yyreturnlab;


/*-----------------------------------------------------------.
| yyexhaustedlab -- YYNOMEM (memory exhaustion) comes here.  |
`-----------------------------------------------------------*/
yyexhaustedlab:
  yyerror (&yylloc, p, YY_("memory exhausted"));
  yyresult = 2;
  goto yyreturnlab;


/*----------------------------------------------------------.
| yyreturnlab -- parsing is finished, clean up and return.  |
`----------------------------------------------------------*/
yyreturnlab:
  if (yychar != TK_YYEMPTY)
    {
      /* Make sure we have latest lookahead translation.  See comments at
         user semantic actions for why this is necessary.  */
      yytoken = YYTRANSLATE (yychar);
      yydestruct ("Cleanup: discarding lookahead",
                  yytoken, &yylval, &yylloc, p);
    }
  /* Do not reclaim the symbols of the rule whose action triggered
     this YYABORT or YYACCEPT.  */
  YYPOPSTACK (yylen);
  YY_STACK_PRINT (yyss, yyssp);
  while (yyssp != yyss)
    {
      yydestruct ("Cleanup: popping",
                  YY_ACCESSING_SYMBOL (+*yyssp), yyvsp, yylsp, p);
      YYPOPSTACK (1);
    }
#ifndef yyoverflow
  if (yyss != yyssa)
    YYSTACK_FREE (yyss);
#endif
  if (yymsg != yymsgbuf)
    YYSTACK_FREE (yymsg);
  return yyresult;
}

#line 586 "compiler/parser.y"


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
