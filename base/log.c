/* log.c - leveled logging to stderr, as text or one JSON object per line,
 * with the thread's request id (see log.h). */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_TEXT_MAX 2048   /* the formatted message */
#define LOG_LINE_MAX 32768  /* the whole line: the text escaped (6x at worst) and fields */

static _Atomic int g_level = HUB_LOG_INFO;
static _Atomic int g_format = HUB_LOG_TEXT;
static const char *g_program = "flist-hub";
static _Thread_local char t_request_id[LOG_REQUEST_ID_MAX + 1];

void log_set_program(const char *name)
{
    if (name && *name)
        g_program = name;
}

void log_set_level(log_level level)
{
    atomic_store(&g_level, (int)level);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&g_level);
}

int log_level_parse(const char *word, log_level *out)
{
    static const struct { const char *w; log_level l; } words[] = {
        {"debug", HUB_LOG_DEBUG}, {"info", HUB_LOG_INFO}, {"warn", HUB_LOG_WARN},
        {"warning", HUB_LOG_WARN}, {"error", HUB_LOG_ERROR},
    };
    for (size_t i = 0; word && i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(word, words[i].w) == 0) {
            *out = words[i].l;
            return 0;
        }
    }
    return -1;
}

void log_set_format(log_format format)
{
    atomic_store(&g_format, (int)format);
}

int log_format_parse(const char *word, log_format *out)
{
    if (word && strcasecmp(word, "text") == 0) {
        *out = HUB_LOG_TEXT;
        return 0;
    }
    if (word && strcasecmp(word, "json") == 0) {
        *out = HUB_LOG_JSON;
        return 0;
    }
    return -1;
}

int log_request_id_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= LOG_REQUEST_ID_MAX)
            return 0;
    }
    return n > 0;
}

void log_set_request_id(const char *id)
{
    if (id && log_request_id_valid(id))
        snprintf(t_request_id, sizeof t_request_id, "%s", id);
    else
        t_request_id[0] = '\0';
}

const char *log_request_id(void)
{
    return t_request_id;
}

char *log_request_id_new(char *out, size_t n)
{
    unsigned char rnd[16];
    int ok = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ok = read(fd, rnd, sizeof rnd) == (ssize_t)sizeof rnd;
        close(fd);
    }
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long v = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
                               ((unsigned long long)getpid() << 40);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(v >> ((i % 8) * 8)) ^ (unsigned char)(i * 131);
    }
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < sizeof rnd && k + 2 < n; i++) {
        out[k++] = hex[rnd[i] >> 4];
        out[k++] = hex[rnd[i] & 15];
    }
    if (n)
        out[k < n ? k : n - 1] = '\0';
    return out;
}

/* An output line being built: appends stop (silently) at its end. */
typedef struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    size_t room = sizeof l->buf - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* s as a JSON string (quotes included); invalid UTF-8 becomes U+FFFD. */
static void put_json_str(line *l, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    put(l, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            puts_(l, e);
            i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k == 0) {
                puts_(l, "\\ufffd");
                i++;
            } else {
                put(l, s + i, k);
                i += k;
            }
        }
    }
    put(l, "\"", 1);
}

static void put_num(line *l, long long v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    puts_(l, b);
}

/* A text field value: bare when it has no blank, quote or '=', else quoted
 * with control characters escaped. */
static void put_text_value(line *l, const char *s)
{
    int plain = *s != '\0';
    for (const char *q = s; *q && plain; q++)
        plain = *q != ' ' && *q != '"' && *q != '=' && (unsigned char)*q >= 0x20;
    if (plain)
        puts_(l, s);
    else
        put_json_str(l, s);
}

static void emit(log_level level, const log_field *fields, size_t nf, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void emit(log_level level, const log_field *fields, size_t nf, const char *fmt, va_list ap)
{
    static const char *upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    static const char *lower[] = {"debug", "info", "warn", "error"};
    char text[LOG_TEXT_MAX];
    vsnprintf(text, sizeof text, fmt, ap);

    struct timespec ts;
    struct tm tm;
    char when[48];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t wl = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + wl, sizeof when - wl, ".%03ldZ", ts.tv_nsec / 1000000L);
    int li = (level >= HUB_LOG_DEBUG && level <= HUB_LOG_ERROR) ? (int)level : HUB_LOG_ERROR;
    const char *rid = t_request_id;

    static _Thread_local line l;
    l.len = 0;
    if (atomic_load(&g_format) == HUB_LOG_JSON) {
        puts_(&l, "{\"time\":\"");
        puts_(&l, when);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, lower[li]);
        puts_(&l, "\",\"program\":");
        put_json_str(&l, g_program);
        puts_(&l, ",\"pid\":");
        put_num(&l, (long long)getpid());
        puts_(&l, ",\"msg\":");
        put_json_str(&l, text);
        if (*rid) {
            puts_(&l, ",\"request_id\":");
            put_json_str(&l, rid);
        }
        for (size_t i = 0; i < nf; i++) {
            put(&l, ",", 1);
            put_json_str(&l, fields[i].key);
            put(&l, ":", 1);
            if (fields[i].str)
                put_json_str(&l, fields[i].str);
            else
                put_num(&l, fields[i].num);
        }
        /* a truncated line still closes its object */
        if (l.len > sizeof l.buf - 3)
            l.len = sizeof l.buf - 3;
        puts_(&l, "}\n");
    } else {
        char head[128];
        snprintf(head, sizeof head, "%s %s[%ld] %s ", when, g_program, (long)getpid(), upper[li]);
        puts_(&l, head);
        puts_(&l, text);
        if (*rid) {
            puts_(&l, " request_id=");
            puts_(&l, rid);
        }
        for (size_t i = 0; i < nf; i++) {
            put(&l, " ", 1);
            puts_(&l, fields[i].key);
            put(&l, "=", 1);
            if (fields[i].str)
                put_text_value(&l, fields[i].str);
            else
                put_num(&l, fields[i].num);
        }
        if (l.len > sizeof l.buf - 2)
            l.len = sizeof l.buf - 2;
        puts_(&l, "\n");
    }
    fwrite(l.buf, 1, l.len, stderr);
}

void log_msg(log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&g_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_msg_fields(log_level level, const log_field *fields, size_t n, const char *fmt, ...)
{
    if ((int)level < atomic_load(&g_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, fields, n, fmt, ap);
    va_end(ap);
}
