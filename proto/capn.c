/* capn.c - the generic Cap'n Proto reader and builder (see capn.h).
 *
 * Wire format reminders (capnproto.org/encoding.html):
 *   pointer word, low 2 bits = kind: 0 struct, 1 list, 2 far, 3 capability
 *   struct: bits 2-31 signed word offset from the end of the pointer,
 *           bits 32-47 data words, bits 48-63 pointer count
 *   list:   bits 2-31 offset, bits 32-34 element size, bits 35-63 count
 *           (word count for composite lists, whose first word is a tag
 *           shaped like a struct pointer whose offset is the element count)
 *   far:    bit 2 double-far, bits 3-31 landing-pad word, bits 32-63 segment
 * All values are little-endian; the buffer is read byte by byte, so it does
 * not have to be aligned.
 */
#include "capn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ byte access */

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ----------------------------------------------------------------- reader */

int capn_reader_init(capn_reader *r, const void *buf, size_t len, hub_err *err)
{
    const uint8_t *p = buf;
    r->nsegs = 0;
    r->traversal_left = 0;
    if (!p || len < 8)
        return hub_err_set(err, "capnp: message truncated (%zu bytes, a message has at least 8)", len);
    uint64_t nsegs = get_le(p, 4) + 1;
    if (nsegs > CAPN_MAX_SEGMENTS)
        return hub_err_set(err, "capnp: segment count %llu exceeds the limit of %u",
                           (unsigned long long)nsegs, CAPN_MAX_SEGMENTS);
    size_t header = (size_t)((4 + 4 * nsegs + 7) & ~(uint64_t)7);
    if (len < header)
        return hub_err_set(err, "capnp: message truncated in the segment table "
                           "(%zu bytes, the table needs %zu)", len, header);
    uint64_t total = 0;
    for (uint32_t i = 0; i < nsegs; i++) {
        uint32_t words = (uint32_t)get_le(p + 4 + 4 * i, 4);
        r->segs[i].words = words;
        total += words;
    }
    uint64_t body = len - header;
    if (total * 8 > body)
        return hub_err_set(err, "capnp: message truncated (segments need %llu bytes, %llu present)",
                           (unsigned long long)(total * 8), (unsigned long long)body);
    /* bytes after the last segment are ignored, as standard readers do */
    if (r->segs[0].words == 0)
        return hub_err_set(err, "capnp: first segment is empty (no root pointer)");
    const uint8_t *seg = p + header;
    for (uint32_t i = 0; i < nsegs; i++) {
        r->segs[i].data = seg;
        seg += (size_t)r->segs[i].words * 8;
    }
    r->nsegs = (uint32_t)nsegs;
    uint64_t limit = total * CAPN_TRAVERSAL_FACTOR;
    r->traversal_left = limit < CAPN_TRAVERSAL_MIN ? CAPN_TRAVERSAL_MIN : limit;
    return 0;
}

static uint64_t seg_word(const capn_reader *r, uint32_t seg, uint64_t w)
{
    return get_le(r->segs[seg].data + w * 8, 8);
}

/* Signed 30-bit word offset of a struct or list pointer. */
static int64_t ptr_offset(uint64_t w)
{
    int64_t off = (int64_t)((w >> 2) & 0x3FFFFFFF);
    if (off & 0x20000000)
        off -= 0x40000000;
    return off;
}

int capn_charge(capn_reader *r, uint64_t words, hub_err *err)
{
    if (words > r->traversal_left)
        return hub_err_set(err, "capnp: traversal limit exceeded (pointer loop or amplification)");
    r->traversal_left -= words;
    return 0;
}

static int charge(capn_reader *r, uint64_t words, hub_err *err)
{
    return capn_charge(r, words ? words : 1, err);
}

/* A pointer after far-pointer resolution: the word that describes the object
 * (struct or list pointer, or tag of a double-far) and where it starts. */
typedef struct resolved {
    int null;
    uint32_t seg;
    uint64_t target;   /* word index in seg */
    uint64_t ptr;
} resolved;

static int resolve(capn_reader *r, uint32_t seg, uint64_t pos, resolved *out, hub_err *err)
{
    uint64_t w = seg_word(r, seg, pos);
    memset(out, 0, sizeof *out);
    if (w == 0) {
        out->null = 1;
        return 0;
    }
    unsigned kind = (unsigned)(w & 3);
    if (kind == 3)
        return hub_err_set(err, "capnp: unexpected capability pointer");
    if (kind != 2) {
        int64_t t = (int64_t)pos + 1 + ptr_offset(w);
        if (t < 0)
            return hub_err_set(err, "capnp: pointer out of bounds (before the segment start)");
        out->seg = seg;
        out->target = (uint64_t)t;
        out->ptr = w;
        return 0;
    }
    uint32_t pseg = (uint32_t)(w >> 32);
    uint64_t pad = (w >> 3) & 0x1FFFFFFF;
    int dbl = (int)((w >> 2) & 1);
    if (pseg >= r->nsegs)
        return hub_err_set(err, "capnp: far pointer to missing segment %u (message has %u)",
                           pseg, r->nsegs);
    if (pad + 1 + (uint64_t)dbl > r->segs[pseg].words)
        return hub_err_set(err, "capnp: pointer out of bounds (far pointer landing pad)");
    uint64_t p0 = seg_word(r, pseg, pad);
    if (!dbl) {
        if (p0 == 0) {
            out->null = 1;
            return 0;
        }
        if ((p0 & 3) == 2)
            return hub_err_set(err, "capnp: far pointer lands on another far pointer");
        if ((p0 & 3) == 3)
            return hub_err_set(err, "capnp: unexpected capability pointer");
        int64_t t = (int64_t)pad + 1 + ptr_offset(p0);
        if (t < 0)
            return hub_err_set(err, "capnp: pointer out of bounds (before the segment start)");
        out->seg = pseg;
        out->target = (uint64_t)t;
        out->ptr = p0;
        return 0;
    }
    if ((p0 & 7) != 2)
        return hub_err_set(err, "capnp: double-far landing pad is not a single far pointer");
    uint64_t tag = seg_word(r, pseg, pad + 1);
    if ((tag & 3) > 1)
        return hub_err_set(err, "capnp: double-far tag is not a struct or list pointer");
    uint32_t tseg = (uint32_t)(p0 >> 32);
    if (tseg >= r->nsegs)
        return hub_err_set(err, "capnp: far pointer to missing segment %u (message has %u)",
                           tseg, r->nsegs);
    out->seg = tseg;
    out->target = (p0 >> 3) & 0x1FFFFFFF;
    out->ptr = tag;
    return 0;
}

static int check_depth(unsigned depth, hub_err *err)
{
    if (depth > CAPN_MAX_DEPTH)
        return hub_err_set(err, "capnp: nesting deeper than %u levels", CAPN_MAX_DEPTH);
    return 0;
}

static int to_struct(capn_reader *r, const resolved *rs, unsigned depth, capn_struct *out,
                     hub_err *err)
{
    memset(out, 0, sizeof *out);
    out->r = r;
    out->depth = depth;
    if (check_depth(depth, err))
        return -1;
    if (rs->null)
        return 0;
    if ((rs->ptr & 3) != 0)
        return hub_err_set(err, "capnp: expected a struct pointer, found a list pointer");
    uint16_t dw = (uint16_t)(rs->ptr >> 32);
    uint16_t pc = (uint16_t)(rs->ptr >> 48);
    if (rs->target + dw + pc > r->segs[rs->seg].words)
        return hub_err_set(err, "capnp: pointer out of bounds (struct of %u words at word %llu "
                           "of a %u-word segment)", (unsigned)(dw + pc),
                           (unsigned long long)rs->target, r->segs[rs->seg].words);
    if (charge(r, (uint64_t)dw + pc, err))
        return -1;
    out->seg = rs->seg;
    out->data_off = (uint32_t)rs->target;
    out->data_words = dw;
    out->ptr_count = pc;
    return 0;
}

static int to_list(capn_reader *r, const resolved *rs, unsigned depth, capn_list *out,
                   hub_err *err)
{
    static const unsigned bits[8] = { 0, 1, 8, 16, 32, 64, 64, 0 };
    memset(out, 0, sizeof *out);
    out->r = r;
    out->depth = depth;
    if (check_depth(depth, err))
        return -1;
    if (rs->null)
        return 0;
    if ((rs->ptr & 3) != 1)
        return hub_err_set(err, "capnp: expected a list pointer, found a struct pointer");
    unsigned es = (unsigned)((rs->ptr >> 32) & 7);
    uint64_t cnt = rs->ptr >> 35;
    uint64_t segwords = r->segs[rs->seg].words;
    out->seg = rs->seg;
    out->elem_size = (uint8_t)es;
    if (es == CAPN_SZ_COMPOSITE) {
        if (rs->target + 1 + cnt > segwords)
            return hub_err_set(err, "capnp: pointer out of bounds (list of %llu words at word %llu "
                               "of a %llu-word segment)", (unsigned long long)cnt,
                               (unsigned long long)rs->target, (unsigned long long)segwords);
        uint64_t tag = seg_word(r, rs->seg, rs->target);
        if ((tag & 3) != 0)
            return hub_err_set(err, "capnp: composite list tag is not a struct tag");
        uint64_t n = (tag >> 2) & 0x3FFFFFFF;
        uint16_t dw = (uint16_t)(tag >> 32);
        uint16_t pc = (uint16_t)(tag >> 48);
        if (n * ((uint64_t)dw + pc) > cnt)
            return hub_err_set(err, "capnp: composite list of %llu elements of %u words "
                               "overruns its %llu words", (unsigned long long)n,
                               (unsigned)(dw + pc), (unsigned long long)cnt);
        if (charge(r, (cnt > n ? cnt : n) + 1, err))
            return -1;
        out->off = (uint32_t)(rs->target + 1);
        out->count = (uint32_t)n;
        out->data_words = dw;
        out->ptr_count = pc;
        return 0;
    }
    uint64_t words = (cnt * bits[es] + 63) / 64;
    if (rs->target + words > segwords)
        return hub_err_set(err, "capnp: pointer out of bounds (list of %llu words at word %llu "
                           "of a %llu-word segment)", (unsigned long long)words,
                           (unsigned long long)rs->target, (unsigned long long)segwords);
    if (charge(r, es == CAPN_SZ_VOID ? cnt : words, err))
        return -1;
    out->off = (uint32_t)rs->target;
    out->count = (uint32_t)cnt;
    return 0;
}

int capn_root(capn_reader *r, capn_struct *out, hub_err *err)
{
    resolved rs;
    if (r->nsegs == 0)
        return hub_err_set(err, "capnp: reader not initialised");
    if (resolve(r, 0, 0, &rs, err))
        return -1;
    return to_struct(r, &rs, 0, out, err);
}

/* Resolves pointer idx of s; a missing pointer reads as null. */
static int follow(const capn_struct *s, unsigned idx, resolved *rs, hub_err *err)
{
    if (idx >= s->ptr_count) {
        memset(rs, 0, sizeof *rs);
        rs->null = 1;
        return 0;
    }
    uint64_t pos = (uint64_t)s->data_off + s->data_words + idx;
    return resolve(s->r, s->seg, pos, rs, err);
}

int capn_get_struct(const capn_struct *s, unsigned idx, capn_struct *out, hub_err *err)
{
    resolved rs;
    if (follow(s, idx, &rs, err))
        return -1;
    return to_struct(s->r, &rs, s->depth + 1, out, err);
}

int capn_get_struct_list(const capn_struct *s, unsigned idx, capn_list *out, hub_err *err)
{
    resolved rs;
    if (follow(s, idx, &rs, err) || to_list(s->r, &rs, s->depth + 1, out, err))
        return -1;
    if (rs.null) {
        out->elem_size = CAPN_SZ_COMPOSITE;
        return 0;
    }
    if (out->elem_size != CAPN_SZ_COMPOSITE)
        return hub_err_set(err, "capnp: expected a list of structs, found a list of element size %u",
                           out->elem_size);
    return 0;
}

int capn_list_struct(const capn_list *list, uint32_t i, capn_struct *out, hub_err *err)
{
    memset(out, 0, sizeof *out);
    out->r = list->r;
    out->depth = list->depth;
    if (list->elem_size != CAPN_SZ_COMPOSITE || i >= list->count)
        return hub_err_set(err, "capnp: list element %u out of range", i);
    uint64_t per = (uint64_t)list->data_words + list->ptr_count;
    out->seg = list->seg;
    out->data_off = (uint32_t)(list->off + (uint64_t)i * per);
    out->data_words = list->data_words;
    out->ptr_count = list->ptr_count;
    return 0;
}

int capn_get_data(const capn_struct *s, unsigned idx, const uint8_t **bytes, size_t *len,
                  hub_err *err)
{
    resolved rs;
    capn_list l;
    *bytes = NULL;
    *len = 0;
    if (follow(s, idx, &rs, err) || to_list(s->r, &rs, s->depth + 1, &l, err))
        return -1;
    if (rs.null)
        return 0;
    if (l.elem_size != CAPN_SZ_BYTE)
        return hub_err_set(err, "capnp: expected a byte list (Text or Data), found element size %u",
                           l.elem_size);
    *bytes = s->r->segs[l.seg].data + (uint64_t)l.off * 8;
    *len = l.count;
    return 0;
}

int capn_get_text(const capn_struct *s, unsigned idx, char **out, hub_err *err)
{
    const uint8_t *b;
    size_t n;
    *out = NULL;
    if (capn_get_data(s, idx, &b, &n, err))
        return -1;
    if (!b) {
        *out = strdup("");
    } else {
        if (n == 0 || b[n - 1] != 0)
            return hub_err_set(err, "capnp: text is not NUL-terminated");
        if (memchr(b, 0, n - 1))
            return hub_err_set(err, "capnp: text contains a NUL byte");
        *out = malloc(n);
        if (*out)
            memcpy(*out, b, n);
    }
    if (!*out)
        return hub_err_set(err, "capnp: out of memory");
    return 0;
}

static uint64_t read_field(const capn_struct *s, size_t off, unsigned n)
{
    if (off > (size_t)s->data_words * 8 || (size_t)s->data_words * 8 - off < n)
        return 0;
    return get_le(s->r->segs[s->seg].data + (uint64_t)s->data_off * 8 + off, n);
}

uint16_t capn_read_u16(const capn_struct *s, size_t off) { return (uint16_t)read_field(s, off, 2); }
uint32_t capn_read_u32(const capn_struct *s, size_t off) { return (uint32_t)read_field(s, off, 4); }
uint64_t capn_read_u64(const capn_struct *s, size_t off) { return read_field(s, off, 8); }

/* ---------------------------------------------------------------- builder */

/* Word distances must fit the 30-bit signed offsets of pointers. */
#define CAPN_MAX_WORDS 0x1FFFFFFFu

static void bfail(capn_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bfail(capn_builder *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    b->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err.msg, sizeof b->err.msg, fmt, ap);
    va_end(ap);
}

void capn_builder_init(capn_builder *b)
{
    memset(b, 0, sizeof *b);
}

void capn_builder_free(capn_builder *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

static uint8_t *wptr(capn_builder *b, size_t w)
{
    return b->buf + 8 + w * 8;
}

/* True when words [at, at+n) exist; otherwise a (programming) error. */
static int in_msg(capn_builder *b, size_t at, size_t n)
{
    if (b->failed)
        return 0;
    if (at > b->words || b->words - at < n) {
        bfail(b, "capnp: internal error: write outside the message");
        return 0;
    }
    return 1;
}

size_t capn_alloc(capn_builder *b, size_t n)
{
    if (b->failed)
        return 0;
    if (n > CAPN_MAX_WORDS - b->words) {
        bfail(b, "capnp: message larger than 4 GiB");
        return 0;
    }
    size_t need = b->words + n;
    if (need > b->cap || !b->buf) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, 8 + cap * 8);
        if (!nb) {
            bfail(b, "capnp: out of memory (message of %zu words)", need);
            return 0;
        }
        memset(nb + 8 + b->cap * 8, 0, (cap - b->cap) * 8);
        b->buf = nb;
        b->cap = cap;
    }
    size_t off = b->words;
    b->words = need;
    return off;
}

static uint32_t offset_bits(size_t at, size_t target)
{
    int64_t off = (int64_t)target - (int64_t)at - 1;
    return (uint32_t)((uint64_t)off << 2);
}

void capn_set_struct_ptr(capn_builder *b, size_t at, size_t target, uint16_t data_words,
                         uint16_t ptr_count)
{
    if (!in_msg(b, at, 1))
        return;
    uint64_t v = offset_bits(at, target) | ((uint64_t)data_words << 32) |
                 ((uint64_t)ptr_count << 48);
    put_le(wptr(b, at), 8, v);
}

void capn_set_list_ptr(capn_builder *b, size_t at, size_t target, unsigned elem_size,
                       size_t count)
{
    if (!in_msg(b, at, 1))
        return;
    if (count > CAPN_MAX_LIST) {
        bfail(b, "capnp: list of %zu elements is too long (the limit is %u)", count,
              CAPN_MAX_LIST);
        return;
    }
    uint64_t v = offset_bits(at, target) | 1u |
                 ((uint64_t)((elem_size & 7) | ((uint64_t)count << 3)) << 32);
    put_le(wptr(b, at), 8, v);
}

size_t capn_new_struct(capn_builder *b, size_t at, uint16_t data_words, uint16_t ptr_count)
{
    size_t t = capn_alloc(b, (size_t)data_words + ptr_count);
    if (b->failed)
        return 0;
    if (at != CAPN_ORPHAN)
        capn_set_struct_ptr(b, at, t, data_words, ptr_count);
    return t;
}

size_t capn_new_struct_list(capn_builder *b, size_t at, size_t n, uint16_t data_words,
                            uint16_t ptr_count)
{
    size_t per = (size_t)data_words + ptr_count;
    if (b->failed)
        return 0;
    if ((per && n > CAPN_MAX_LIST / per) || n > 0x3FFFFFFFu) {
        bfail(b, "capnp: list of %zu structs is too long", n);
        return 0;
    }
    size_t t = capn_alloc(b, 1 + n * per);
    if (b->failed)
        return 0;
    uint64_t tag = ((uint64_t)n << 2) | ((uint64_t)data_words << 32) | ((uint64_t)ptr_count << 48);
    put_le(wptr(b, t), 8, tag);
    if (at != CAPN_ORPHAN)
        capn_set_list_ptr(b, at, t, CAPN_SZ_COMPOSITE, n * per);
    return t;
}

void capn_set_struct_list_ptr(capn_builder *b, size_t at, size_t tag, size_t n,
                              uint16_t data_words, uint16_t ptr_count)
{
    capn_set_list_ptr(b, at, tag, CAPN_SZ_COMPOSITE, n * ((size_t)data_words + ptr_count));
}

size_t capn_new_data(capn_builder *b, size_t at, const void *bytes, size_t len)
{
    if (len == 0 || b->failed)
        return 0;
    if (len > CAPN_MAX_LIST) {
        bfail(b, "capnp: byte list of %zu bytes is too long (the limit is %u)", len,
              CAPN_MAX_LIST);
        return 0;
    }
    size_t t = capn_alloc(b, (len + 7) / 8);
    if (b->failed)
        return 0;
    memcpy(wptr(b, t), bytes, len);
    if (at != CAPN_ORPHAN)
        capn_set_list_ptr(b, at, t, CAPN_SZ_BYTE, len);
    return t;
}

void capn_new_text(capn_builder *b, size_t at, const char *s)
{
    if (!s)
        s = "";
    /* the allocation is zeroed, so copying strlen bytes leaves the NUL */
    size_t n = strlen(s) + 1;
    if (b->failed)
        return;
    if (n > CAPN_MAX_LIST) {
        bfail(b, "capnp: text of %zu bytes is too long (the limit is %u)", n, CAPN_MAX_LIST);
        return;
    }
    size_t t = capn_alloc(b, (n + 7) / 8);
    if (b->failed)
        return;
    memcpy(wptr(b, t), s, n - 1);
    if (at != CAPN_ORPHAN)
        capn_set_list_ptr(b, at, t, CAPN_SZ_BYTE, n);
}

static void write_field(capn_builder *b, size_t data, size_t off, unsigned n, uint64_t v)
{
    if (!in_msg(b, data + off / 8, (off % 8 + n + 7) / 8))
        return;
    put_le(wptr(b, data) + off, n, v);
}

void capn_write_u16(capn_builder *b, size_t data, size_t off, uint16_t v) { write_field(b, data, off, 2, v); }
void capn_write_u32(capn_builder *b, size_t data, size_t off, uint32_t v) { write_field(b, data, off, 4, v); }
void capn_write_u64(capn_builder *b, size_t data, size_t off, uint64_t v) { write_field(b, data, off, 8, v); }

int capn_builder_finish(capn_builder *b, uint8_t **out, size_t *outlen, hub_err *err)
{
    *out = NULL;
    *outlen = 0;
    if (!b->failed && b->words == 0)
        bfail(b, "capnp: empty message (no root pointer)");
    if (b->failed) {
        hub_err_set(err, "%s", b->err.msg);
        capn_builder_free(b);
        return -1;
    }
    put_le(b->buf, 4, 0);                    /* one segment */
    put_le(b->buf + 4, 4, (uint32_t)b->words);
    size_t len = 8 + b->words * 8;
    uint8_t *shrunk = realloc(b->buf, len);
    *out = shrunk ? shrunk : b->buf;
    *outlen = len;
    memset(b, 0, sizeof *b);
    return 0;
}
