/* config_import.c - the original hub's config.py read as a Python literal
 * and written as hub.conf lines (see config_import.h). */
#include "config_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PY_MAX_ITEMS 256        /* entries of the dict, items of one list */
#define PY_MAX_DEPTH 2          /* config dict > list or dict of strings */
#define PY_FILE_MAX (1 << 20)   /* a config.py is a few KB */
#define SEED_BYTES 32
#define PY_INT_DIGITS 19        /* a long long; longer numbers are refused */

typedef enum py_kind { PY_STR, PY_BYTES, PY_INT, PY_BOOL, PY_NONE, PY_LIST, PY_DICT } py_kind;

/* One parsed value. Strings and bytes own s (len bytes, NUL added); lists
 * own items; dicts own keys (strings) and items. */
typedef struct py_val {
    py_kind kind;
    char *s;
    size_t len;
    long long num;               /* PY_INT, PY_BOOL */
    struct py_val *items;
    char **keys;
    size_t n;
    size_t cap;                  /* slots of items/keys (a failed parse may
                                    leave a key or a value past n) */
} py_val;

typedef struct parser {
    const char *p, *end, *start;
    hub_err *err;
} parser;

static void val_free(py_val *v)
{
    free(v->s);
    for (size_t i = 0; i < v->cap; i++) {
        if (v->items)
            val_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static int line_of(const parser *ps)
{
    int line = 1;
    for (const char *q = ps->start; q < ps->p; q++)
        line += *q == '\n';
    return line;
}

static int fail(parser *ps, const char *what)
{
    return hub_err_setc(ps->err, HUB_E_INVALID, "config.py line %d: %s", line_of(ps), what);
}

/* Skips blanks, newlines, backslash continuations and comments. */
static void skip(parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
            ps->p++;
        } else if (c == '\\' && ps->p + 1 < ps->end && ps->p[1] == '\n') {
            ps->p += 2;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else {
            break;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends the UTF-8 form of code point cp. */
static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string or bytes literal at ps->p (prefix b/r/u, one quote kind). */
static int parse_string(parser *ps, py_val *v)
{
    int bytes = 0, raw = 0;
    while (ps->p < ps->end && *ps->p && strchr("bBrRuU", *ps->p)) {
        if (*ps->p == 'b' || *ps->p == 'B')
            bytes = 1;
        if (*ps->p == 'r' || *ps->p == 'R')
            raw = 1;
        ps->p++;
    }
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return fail(ps, "expected a string");
    char q = *ps->p++;
    if (ps->p + 1 < ps->end && ps->p[0] == q && ps->p[1] == q)
        return fail(ps, "triple-quoted strings are not supported: use one line");
    char *o = malloc((size_t)(ps->end - ps->p) + 8);   /* escapes never grow */
    if (!o)
        return hub_err_setc(ps->err, HUB_E_NOMEM, "out of memory");
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end || *ps->p == '\n') {
            free(o);
            return fail(ps, "unterminated string");
        }
        char c = *ps->p++;
        if (c == q)
            break;
        if (c != '\\' || raw) {
            o[n++] = c;
            continue;
        }
        if (ps->p >= ps->end)
            continue;
        char e = *ps->p++;
        int h1, h2;
        switch (e) {
        case '\\': case '\'': case '"': o[n++] = e; break;
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case '0': o[n++] = '\0'; break;
        case 'a': o[n++] = '\a'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'v': o[n++] = '\v'; break;
        case '\n': break;
        case 'x':
            if (ps->end - ps->p < 2 || (h1 = hexval(ps->p[0])) < 0 || (h2 = hexval(ps->p[1])) < 0) {
                free(o);
                return fail(ps, "bad \\x escape");
            }
            ps->p += 2;
            if (bytes) {
                o[n++] = (char)(h1 * 16 + h2);
            } else {
                n += put_utf8(o + n, (unsigned)(h1 * 16 + h2));
            }
            break;
        case 'u':
            if (!bytes && ps->end - ps->p >= 4) {
                unsigned cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(ps->p[i]);
                    if (h < 0) {
                        free(o);
                        return fail(ps, "bad \\u escape");
                    }
                    cp = cp * 16 + (unsigned)h;
                }
                ps->p += 4;
                n += put_utf8(o + n, cp);
                break;
            }
            o[n++] = '\\';   /* bytes: \u is a backslash and a u */
            o[n++] = e;
            break;
        default:
            o[n++] = '\\';
            o[n++] = e;
        }
    }
    o[n] = '\0';
    v->kind = bytes ? PY_BYTES : PY_STR;
    v->s = o;
    v->len = n;
    return 0;
}

static int word_at(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return 0;
    if (ps->p + n < ps->end && (isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_'))
        return 0;
    ps->p += n;
    return 1;
}

static int parse_value(parser *ps, py_val *v, int depth);

/* The items of a list, tuple or set (close: ']', ')' or '}'), or of a
 * dict when dict is set; ps->p is past the opening bracket. */
static int parse_items(parser *ps, py_val *v, char close, int dict, int depth)
{
    v->kind = dict ? PY_DICT : PY_LIST;
    v->items = calloc(PY_MAX_ITEMS, sizeof *v->items);
    v->keys = dict ? calloc(PY_MAX_ITEMS, sizeof *v->keys) : NULL;
    if (!v->items || (dict && !v->keys))
        return hub_err_setc(ps->err, HUB_E_NOMEM, "out of memory");
    v->cap = PY_MAX_ITEMS;
    for (;;) {
        skip(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        if (v->n == PY_MAX_ITEMS)
            return fail(ps, "too many items");
        if (dict) {
            py_val k = {0};
            if (parse_string(ps, &k) < 0)
                return -1;
            if (k.kind != PY_STR || strlen(k.s) != k.len) {
                val_free(&k);
                return fail(ps, "dict keys must be strings (without NUL bytes)");
            }
            v->keys[v->n] = k.s;
            skip(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, "expected ':' after a key");
            ps->p++;
        }
        if (parse_value(ps, &v->items[v->n], depth + 1) < 0)
            return -1;
        v->n++;
        skip(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return fail(ps, dict ? "expected ',' or '}'" : "expected ',' or a closing bracket");
    }
}

static int parse_value(parser *ps, py_val *v, int depth)
{
    skip(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of file");
    char c = *ps->p;
    if (depth > PY_MAX_DEPTH && (c == '[' || c == '(' || c == '{'))
        return fail(ps, "values nested too deep");
    if (c == '[' || c == '(') {
        ps->p++;
        return parse_items(ps, v, c == '[' ? ']' : ')', 0, depth);
    }
    if (c == '{') {
        /* a dict, or a set ({'.tar.gz'}): look past the first string */
        parser look = *ps;
        look.p++;
        skip(&look);
        py_val k = {0};
        int is_dict = 1;
        if (look.p < look.end && *look.p != '}') {
            hub_err tmp;
            look.err = &tmp;
            if (parse_string(&look, &k) == 0) {
                skip(&look);
                is_dict = look.p < look.end && *look.p == ':';
            }
            val_free(&k);
        }
        ps->p++;
        return parse_items(ps, v, '}', is_dict, depth);
    }
    if (c == '\'' || c == '"' || ((c == 'b' || c == 'B' || c == 'r' || c == 'u') &&
                                  ps->p + 1 < ps->end && ps->p[1] && strchr("'\"bBrR", ps->p[1])))
        return parse_string(ps, v);
    if (word_at(ps, "True") || word_at(ps, "False")) {
        v->kind = PY_BOOL;
        v->num = c == 'T';
        return 0;
    }
    if (word_at(ps, "None")) {
        v->kind = PY_NONE;
        return 0;
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        /* the text is not NUL-terminated: the digits go to a buffer first */
        char num[PY_INT_DIGITS + 2], *e;
        size_t k = 0;
        const char *q = ps->p;
        if (*q == '-')
            num[k++] = *q++;
        while (q < ps->end && isdigit((unsigned char)*q) && k <= PY_INT_DIGITS)
            num[k++] = *q++;
        num[k] = '\0';
        errno = 0;
        long long n = strtoll(num, &e, 10);
        if (*e || e == num || errno || k > PY_INT_DIGITS ||
            (q < ps->end && (isalnum((unsigned char)*q) || *q == '.' || *q == '_')))
            return fail(ps, "expected an integer");
        ps->p = q;
        v->kind = PY_INT;
        v->num = n;
        return 0;
    }
    return fail(ps, "expected a string, number, True/False/None, list or dict");
}

/* Finds `config = {` at the start of a line and parses the dict. */
static int parse_config(parser *ps, py_val *v)
{
    for (const char *q = ps->start; q < ps->end; q++) {
        if (q != ps->start && q[-1] != '\n')
            continue;
        ps->p = q;
        if (!word_at(ps, "config"))
            continue;
        skip(ps);
        if (ps->p >= ps->end || *ps->p != '=')
            continue;
        ps->p++;
        skip(ps);
        if (ps->p >= ps->end || *ps->p != '{')
            return fail(ps, "config must be a dict literal");
        if (parse_value(ps, v, 0) < 0)
            return -1;
        if (v->kind != PY_DICT)
            return fail(ps, "config must be a dict literal");
        return 0;
    }
    return hub_err_setc(ps->err, HUB_E_INVALID, "config.py: no `config = {...}` assignment found");
}

/* ---- output ---- */

/* value as a configuration value: quoted (\" \\ \n \t escaped). */
static void put_quoted(FILE *o, const char *s, size_t len)
{
    fputc('"', o);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", o);
        else if (c == '\t')
            fputs("\\t", o);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

/* What one key of the original becomes. */
typedef enum rule {
    R_SAME,      /* the same key, a scalar */
    R_LIST,      /* list/set of strings -> comma separated */
    R_PAIRS,     /* dict of strings -> a=b pairs */
    R_SEED,      /* bytes (or str) of 32 bytes -> hex */
    R_NULLABLE,  /* str or None (guest-token) */
    R_DROP,      /* no equivalent: a comment */
} rule;

static const struct {
    const char *key;
    rule r;
    const char *why;   /* R_DROP: the comment */
} RULES[] = {
    {"backend-internal-host", R_SAME, NULL},
    {"backend-internal-port", R_SAME, NULL},
    {"backend-internal-pass", R_SAME, NULL},
    {"backend-internal-name", R_SAME, NULL},
    {"backend-public-host", R_SAME, NULL},
    {"backend-public-port", R_SAME, NULL},
    {"backend-public-name", R_SAME, NULL},
    {"public-website", R_SAME, NULL},
    {"listen-addr", R_SAME, NULL},
    {"listen-port", R_SAME, NULL},
    {"userdata-root-path", R_SAME, NULL},
    {"workdir-root-path", R_SAME, NULL},
    {"public-directory", R_SAME, NULL},
    {"flist-work-directory", R_SAME, NULL},
    {"upload-directory", R_SAME, NULL},
    {"readonly", R_SAME, NULL},
    {"authentication", R_SAME, NULL},
    {"debug", R_SAME, NULL},
    {"threebot-privatekey", R_SAME, NULL},
    {"threebot-appid", R_SAME, NULL},
    {"official-repositories", R_LIST, NULL},
    {"allowed-extensions", R_LIST, NULL},
    {"threebot-users-map", R_PAIRS, NULL},
    {"threebot-seed", R_SEED, NULL},
    {"guest-token", R_NULLABLE, NULL},
    {"ignored-files", R_DROP, "never read by the original either (D39)"},
    {"zflist-bin", R_DROP, "the workers build flists themselves: no zflist needed"},
    {"docker-work-directory", R_DROP, "docker conversions use workdir-root-path"},
    {"iyo-clientid", R_DROP, "itsyou.online has shut down: /login-iyo answers 410"},
    {"iyo-secret", R_DROP, "itsyou.online has shut down: /login-iyo answers 410"},
    {"iyo-callback", R_DROP, "itsyou.online has shut down: /login-iyo answers 410"},
};

static int rule_of(const char *key)
{
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
        if (strcmp(RULES[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int bad_value(hub_err *err, const char *key, const char *want)
{
    return hub_err_setc(err, HUB_E_INVALID, "config.py: %s: expected %s", key, want);
}

/* 1 when v is a string a configuration value can hold: no NUL byte, no
 * control character but tab and newline (written as escapes). */
static int plain_str(const py_val *v)
{
    if (v->kind != PY_STR || strlen(v->s) != v->len)
        return 0;
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->s[i] < 0x20 && v->s[i] != '\n' && v->s[i] != '\t')
            return 0;
    return 1;
}

/* Writes one converted entry; refuses values of the wrong type. */
static int emit(FILE *o, FILE *warn, const char *key, const py_val *v, hub_err *err)
{
    int ri = rule_of(key);
    if (v->kind == PY_STR && !plain_str(v) && ri >= 0 && RULES[ri].r != R_SEED)
        return bad_value(err, key, "a string without NUL or control characters");
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].kind == PY_STR && !plain_str(&v->items[i]))
            return bad_value(err, key, "strings without NUL or control characters");
    if (ri < 0) {
        for (const char *q = key; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_')
                return hub_err_setc(err, HUB_E_INVALID, "config.py: invalid key name \"%.64s\"", key);
        fprintf(o, "# %s: not a key of the original hub; not converted\n", key);
        if (warn)
            fprintf(warn, "config-import: unknown key \"%s\" left out\n", key);
        return 0;
    }
    switch (RULES[ri].r) {
    case R_SAME:
        fprintf(o, "%s = ", key);
        if (v->kind == PY_STR)
            put_quoted(o, v->s, v->len);
        else if (v->kind == PY_INT)
            fprintf(o, "%lld", v->num);
        else if (v->kind == PY_BOOL)
            fputs(v->num ? "true" : "false", o);
        else
            return bad_value(err, key, "a string, a number or True/False");
        fputc('\n', o);
        if (warn && strcmp(key, "debug") == 0 && v->kind == PY_BOOL && v->num)
            fprintf(warn, "config-import: debug is on (as in the original's sample): it only "
                          "pretty-prints JSON here; set debug = false in production\n");
        return 0;
    case R_LIST:
        if (v->kind != PY_LIST)
            return bad_value(err, key, "a list or set of strings");
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i].kind != PY_STR || strpbrk(v->items[i].s, ",\"\r\n"))
                return bad_value(err, key, "strings without ',' or '\"'");
        fprintf(o, "%s = ", key);
        for (size_t i = 0; i < v->n; i++)
            fprintf(o, "%s%s", i ? ", " : "", v->items[i].s);
        fputc('\n', o);
        return 0;
    case R_PAIRS:
        if (v->kind != PY_DICT)
            return bad_value(err, key, "a dict of strings");
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i].kind != PY_STR || strpbrk(v->keys[i], ",=\" \t\r\n") ||
                strpbrk(v->items[i].s, ",=\" \t\r\n"))
                return bad_value(err, key, "a dict of names (no ',', '=', blanks)");
        fprintf(o, "%s = ", key);
        for (size_t i = 0; i < v->n; i++)
            fprintf(o, "%s%s=%s", i ? ", " : "", v->keys[i], v->items[i].s);
        fputc('\n', o);
        return 0;
    case R_SEED:
        if (v->kind != PY_BYTES && v->kind != PY_STR)
            return bad_value(err, key, "b'...' of 32 bytes");
        if (v->len == 0) {
            fprintf(o, "%s =\n", key);
            if (warn)
                fprintf(warn, "config-import: threebot-seed is empty: API tokens are refused "
                              "until one is set\n");
            return 0;
        }
        if (v->len != SEED_BYTES)
            return hub_err_setc(err, HUB_E_INVALID,
                                "config.py: threebot-seed: %zu bytes; the original needs exactly %d "
                                "(nacl.utils.random(32))", v->len, SEED_BYTES);
        fprintf(o, "# the same 32 bytes as b'...' in config.py: tokens it signed stay valid\n");
        fprintf(o, "%s = ", key);
        for (size_t i = 0; i < v->len; i++)
            fprintf(o, "%02x", (unsigned char)v->s[i]);
        fputc('\n', o);
        return 0;
    case R_NULLABLE:
        if (v->kind == PY_NONE) {
            fprintf(o, "%s =\n", key);
            return 0;
        }
        if (v->kind != PY_STR)
            return bad_value(err, key, "a string or None");
        fprintf(o, "%s = ", key);
        put_quoted(o, v->s, v->len);
        fputc('\n', o);
        return 0;
    case R_DROP:
        fprintf(o, "# %s: not converted: %s\n", key, RULES[ri].why);
        return 0;
    }
    return 0;
}

static const py_val *lookup(const py_val *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return &d->items[i];
    return NULL;
}

int config_import_py(const char *text, size_t len, FILE *out, FILE *warn, hub_err *err)
{
    parser ps = {.p = text, .end = text + len, .start = text, .err = err};
    py_val cfg = {0};
    if (parse_config(&ps, &cfg) < 0) {
        val_free(&cfg);
        return -1;
    }
    /* built in memory first: nothing reaches out on failure */
    char *buf = NULL;
    size_t blen = 0;
    FILE *o = open_memstream(&buf, &blen);
    if (!o) {
        val_free(&cfg);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    fprintf(o, "# hub.conf converted from the original hub's config.py by\n"
               "# `flist-hub-api config-import` (every key: deployment/hub.conf.sample)\n\n"
               "# the original writes chunks to 0-db\nbackend-internal-kind = zdb\n");
    int rc = 0;
    for (size_t i = 0; i < cfg.n && rc == 0; i++)
        rc = emit(o, warn, cfg.keys[i], &cfg.items[i], err);
    if (rc == 0) {
        fputs("\n# ---- not in config.py, new in this hub ----\n", o);
        if (!lookup(&cfg, "userdata-root-path"))
            fputs("# userdata-root-path: config.py left it at the original's default, <src>/../public\n"
                  "# (/public in its container): set it to that directory, used as it is\n", o);
        if (!lookup(&cfg, "workdir-root-path"))
            fputs("# workdir-root-path: the original's default was <src>/../workdir (/workdir in\n"
                  "# its container); it must be on a volume shared by the api and the workers\n", o);
        if (!lookup(&cfg, "allowed-extensions"))
            fputs("# allowed-extensions: the original accepted .tar.gz only; this hub's default\n"
                  "# also takes .tgz, .tar, .tar.zst and .tar.xz\n", o);
        fputs("# redis-url: the job queue shared by the api and the workers (Redis, AOF on)\n"
              "redis-url = redis://127.0.0.1:6379/0\n", o);
    }
    if (fclose(o) != 0 && rc == 0)
        rc = hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    val_free(&cfg);
    if (rc == 0 && fwrite(buf, 1, blen, out) != blen)
        rc = hub_err_set(err, "config-import: cannot write the output");
    free(buf);
    return rc;
}

int config_import_file(const char *path, FILE *out, FILE *warn, hub_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hub_err_setc(err, errno == ENOENT ? HUB_E_NOT_FOUND : HUB_E_FAILED, "%s: %s", path,
                            strerror(errno));
    char *text = malloc(PY_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return hub_err_setc(err, HUB_E_NOMEM, "out of memory");
    }
    size_t n = fread(text, 1, PY_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    int rc;
    if (rerr)
        rc = hub_err_set(err, "%s: read error", path);
    else if (n > PY_FILE_MAX)
        rc = hub_err_setc(err, HUB_E_TOO_LARGE, "%s: larger than %d bytes: not a config.py", path,
                          PY_FILE_MAX);
    else {
        text[n] = '\0';   /* not needed by the parser, kept for safety */
        rc = config_import_py(text, n, out, warn, err);
    }
    free(text);
    return rc;
}
