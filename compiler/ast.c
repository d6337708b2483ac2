/*
 * ast.c - syntax tree constructor and the --dump=ast printer.
 *
 * The tree is built by parser.y's actions; see the Node comment in kdlc.h
 * for which fields each kind uses. The dump is one node per line, indented
 * by depth, with the node's line:col, so parser tests can FileCheck it.
 */
#include "kdlc.h"

Node *new_node(Ctx *c, NodeKind kind, Span span) {
    Node *n = arena_alloc(c->arena, sizeof *n);
    n->kind = kind;
    n->span = span;
    return n;
}

static const char *kind_names[] = {
    [ND_NAME] = "Name", [ND_INT] = "Int", [ND_FLOAT] = "Float", [ND_STR] = "Str",
    [ND_FSTR] = "FStr", [ND_NONE] = "None", [ND_TRUE] = "True", [ND_FALSE] = "False",
    [ND_LIST] = "List", [ND_TUPLE] = "Tuple", [ND_DICT] = "Dict", [ND_CALL] = "Call",
    [ND_ATTR] = "Attr", [ND_INDEX] = "Index", [ND_SLICE] = "Slice", [ND_BINOP] = "BinOp",
    [ND_UNARY] = "Unary", [ND_COMPARE] = "Compare", [ND_AND] = "And", [ND_OR] = "Or",
    [ND_NOT] = "Not", [ND_IFEXP] = "IfExp", [ND_LISTCOMP] = "ListComp",
    [ND_STARRED] = "Starred", [ND_KWARG] = "Keyword", [ND_DSTAR] = "DoubleStarred",
    [ND_EXPR_STMT] = "Expr", [ND_ASSIGN] = "Assign", [ND_AUGASSIGN] = "AugAssign",
    [ND_IMPORT] = "Import", [ND_FROM_IMPORT] = "ImportFrom", [ND_DEF] = "FunctionDef",
    [ND_CLASS] = "ClassDef", [ND_RETURN] = "Return", [ND_FOR] = "For", [ND_WHILE] = "While",
    [ND_IF] = "If", [ND_PASS] = "Pass", [ND_BREAK] = "Break", [ND_CONTINUE] = "Continue",
    [ND_ASSERT] = "Assert", [ND_BLOCK] = "Block", [ND_PARAM] = "Param", [ND_ALIAS] = "Alias",
    [ND_DECORATED] = "Decorated",
};

static const char *op_names[] = {
    [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_FLOORDIV] = "//",
    [OP_MOD] = "%", [OP_POW] = "**", [OP_MATMUL] = "@", [OP_NEG] = "-", [OP_POS] = "+",
    [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">",
    [OP_GE] = ">=", [OP_IN] = "in", [OP_NOT_IN] = "not in", [OP_IS] = "is",
    [OP_IS_NOT] = "is not",
};

const char *op_name(OpKind op) {
    return op_names[op];
}

static void dump_child(FILE *out, const char *label, const Node *n, int indent) {
    if (!n)
        return;
    fprintf(out, "%*s%s:\n", indent * 2, "", label);
    ast_dump(out, n, indent + 1);
}

void ast_dump(FILE *out, const Node *n, int indent) {
    if (!n)
        return;
    int line = 0, col = 0;
    if (n->span.file)
        src_line_col(n->span.file, n->span.start, &line, &col);
    fprintf(out, "%*s%s", indent * 2, "", kind_names[n->kind]);
    switch (n->kind) {
    case ND_NAME: case ND_ATTR: case ND_KWARG: case ND_DEF: case ND_CLASS:
    case ND_PARAM: case ND_FROM_IMPORT:
        if (n->name)
            fprintf(out, " %s", n->name);
        if (n->kind == ND_PARAM && n->param_kind)
            fprintf(out, " %s", n->param_kind == 1 ? "*" : "**");
        break;
    case ND_ALIAS:
        fprintf(out, " %s", n->name);
        if (n->alias)
            fprintf(out, " as %s", n->alias);
        break;
    case ND_INT:
        fprintf(out, " %lld", (long long)n->ival);
        break;
    case ND_FLOAT:
        fprintf(out, " %.17g", n->fval);
        break;
    case ND_STR: case ND_FSTR:
        fprintf(out, " %s", n->str);
        break;
    case ND_BINOP: case ND_UNARY: case ND_AUGASSIGN:
        fprintf(out, " %s", op_names[n->op]);
        break;
    case ND_COMPARE:
        for (int i = 0; i < n->ops.len; i++)
            fprintf(out, " %s", op_names[(OpKind)(intptr_t)n->ops.data[i]]);
        break;
    default:
        break;
    }
    fprintf(out, " @%d:%d\n", line, col);
    if (n->kind == ND_SLICE) {
        // a[lower:upper:step]; absent parts are not printed
        dump_child(out, "lower", n->lhs, indent + 1);
        dump_child(out, "upper", n->rhs, indent + 1);
        dump_child(out, "step", n->cond, indent + 1);
        return;
    }
    dump_child(out, "lhs", n->lhs, indent + 1);
    dump_child(out, "cond", n->cond, indent + 1);
    dump_child(out, "target", n->target, indent + 1);
    dump_child(out, "iter", n->iter, indent + 1);
    dump_child(out, "fn", n->fn, indent + 1);
    if (n->kind != ND_DEF && n->kind != ND_CLASS && n->kind != ND_ATTR)
        dump_child(out, "rhs", n->rhs, indent + 1);
    dump_child(out, "default", n->dflt, indent + 1);
    for (int i = 0; i < n->items.len; i++)
        ast_dump(out, n->items.data[i], indent + 1);
    dump_child(out, "body", n->body, indent + 1);
    dump_child(out, "else", n->orelse, indent + 1);
}
