/* test_capnp.c - the Cap'n Proto codec of the flist rows (proto/capn.c,
 * proto/flist_schema.c): the worked hex examples of FLIST-FORMAT.md §4.6
 * decode to their values and re-encode byte-identically; hand-built
 * multi-segment messages with far and double-far pointers and with struct
 * sections of other sizes decode; a 10,000-entry directory (> 4 MiB) round
 * trips; hostile messages fail with a message and no crash; random
 * mutations never crash (run under the ASan build too). */
#include "capn.h"
#include "flist_keys.h"
#include "flist_schema.h"
#include "t.h"
#include "t_flist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* §4.6 (a): ACI root/root/0755/0/0 */
static const char HEX_A[] =
    "00000000090000000000000003000300ed01000000000000ffffffffffffffff"
    "ffffffffffffffff090000002a000000090000002a0000000000000000000000"
    "726f6f7400000000726f6f7400000000";
/* §4.6 (b): the empty root Dir */
static const char HEX_B[] =
    "0000000013000000040000000200050000000000030003000010000000000000"
    "0000000000000000110000000a000000110000000a000000e9ffffff07000000"
    "0d0000000a0100001d0000008a00000000000000000000000000000000000000"
    "6361653636393431643965666264343034653464383837353865613637363730"
    "0000000000000000643736383364653030306331333638390000000000000000";
/* §4.6 (c): Dir sub/deeper holding one 5-byte file */
static const char HEX_C[] =
    "0000000027000000500000000200050004000000030003000500000000000000"
    "0100000076eb086b78eb086b000000002d0000002a0000002000000001000100"
    "290000008a000000040000000000020005000000820000000900000082000000"
    "88fa01b50c46c4da94a1d7e4cb548228d4125b8b56dad81ea8784b9331ac88d4"
    "8000000000000000ddffffff1700000066696c65000000003762653533616139"
    "65663066643339610000000000000000001000000000000076eb086b76eb086b"
    "110000003a000000110000005a0000009dffffff37000000110000000a010000"
    "210000008a00000064656570657200007375622f646565706572000000000000"
    "3733643538306131313438353637303030383731633136336566306531656133"
    "0000000000000000643736383364653030306331333638390000000000000000";

static int has(const hub_err *e, const char *what)
{
    if (strstr(e->msg, what))
        return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", e->msg, what);
    return 0;
}

static void dump_diff(const uint8_t *got, size_t glen, const uint8_t *want, size_t wlen)
{
    fprintf(stderr, "  got %zu bytes, want %zu\n", glen, wlen);
    for (size_t i = 0; i < glen && i < wlen; i += 8)
        if (memcmp(got + i, want + i, (glen - i < 8 || wlen - i < 8) ? 1 : 8)) {
            fprintf(stderr, "  first difference in word %zu (byte %zu)\n", i / 8 - 1, i);
            return;
        }
}

/* Hand-built segments for multi-segment and hostile messages. */
typedef struct tseg {
    uint64_t w[96];
    uint32_t n;
} tseg;

static uint64_t P_S(int32_t off, uint16_t dw, uint16_t pc)
{
    return (uint64_t)((uint32_t)off << 2) | (uint64_t)dw << 32 | (uint64_t)pc << 48;
}

static uint64_t P_L(int32_t off, unsigned sz, uint32_t count)
{
    return (uint64_t)((uint32_t)off << 2) | 1u | (uint64_t)(sz | (uint64_t)count << 3) << 32;
}

static uint64_t P_F(int dbl, uint32_t pad, uint32_t seg)
{
    return 2u | (uint64_t)dbl << 2 | (uint64_t)pad << 3 | (uint64_t)seg << 32;
}

/* Composite-list tag: n elements of dw + pc words. */
static uint64_t TAG(uint32_t n, uint16_t dw, uint16_t pc)
{
    return (uint64_t)n << 2 | (uint64_t)dw << 32 | (uint64_t)pc << 48;
}

/* Writes s (with its NUL) into words from `at`; returns the words used. */
static uint32_t put_text(tseg *s, uint32_t at, const char *str, size_t n)
{
    uint32_t words = (uint32_t)((n + 7) / 8);
    memset(&s->w[at], 0, words * 8);
    for (size_t i = 0; i < n; i++)
        s->w[at + i / 8] |= (uint64_t)(uint8_t)str[i] << (8 * (i % 8));
    if (at + words > s->n)
        s->n = at + words;
    return words;
}

static void set(tseg *s, uint32_t at, uint64_t v)
{
    s->w[at] = v;
    if (at + 1 > s->n)
        s->n = at + 1;
}

/* Serializes the segments with their table (little-endian). */
static uint8_t *tmsg(const tseg *segs, unsigned nsegs, size_t *len)
{
    size_t header = (4 + 4 * nsegs + 7) & ~(size_t)7, total = 0;
    for (unsigned i = 0; i < nsegs; i++)
        total += segs[i].n;
    *len = header + total * 8;
    uint8_t *b = calloc(1, *len);
    if (!b)
        return NULL;
    uint32_t v = nsegs - 1;
    memcpy(b, &v, 4);   /* the test machine is little-endian (checked in main) */
    size_t pos = header;
    for (unsigned i = 0; i < nsegs; i++) {
        memcpy(b + 4 + 4 * i, &segs[i].n, 4);
        memcpy(b + pos, segs[i].w, segs[i].n * 8);
        pos += segs[i].n * 8;
    }
    return b;
}

static void block_bytes(flist_block *b, unsigned seed)
{
    for (unsigned k = 0; k < 16; k++) {
        b->id[k] = (uint8_t)(seed * 31 + k);
        b->key[k] = (uint8_t)(seed * 17 + 3 * k + 1);
    }
}

/* Deep equality of two directories (every field of every entry). */
static int dir_equal(const flist_dir *a, const flist_dir *b)
{
#define SEQ(x, y) (((x) == NULL && (y) == NULL) || ((x) && (y) && strcmp((x), (y)) == 0))
    if (!SEQ(a->name, b->name) || !SEQ(a->location, b->location) ||
        !SEQ(a->parent, b->parent) || !SEQ(a->aclkey, b->aclkey) || a->size != b->size ||
        a->mtime != b->mtime || a->ctime != b->ctime || a->nentries != b->nentries)
        return 0;
    for (size_t i = 0; i < a->nentries; i++) {
        const flist_inode *x = &a->entries[i], *y = &b->entries[i];
        if (!SEQ(x->name, y->name) || !SEQ(x->aclkey, y->aclkey) || x->size != y->size ||
            x->type != y->type || x->mtime != y->mtime || x->ctime != y->ctime)
            return 0;
        switch (x->type) {
        case FLIST_DIR:
            if (!SEQ(x->dirkey, y->dirkey))
                return 0;
            break;
        case FLIST_LINK:
            if (!SEQ(x->target, y->target))
                return 0;
            break;
        case FLIST_FILE:
            if (x->block_size != y->block_size || x->nblocks != y->nblocks ||
                (x->nblocks && memcmp(x->blocks, y->blocks, x->nblocks * sizeof *x->blocks)))
                return 0;
            break;
        case FLIST_SPECIAL:
            if (x->special != y->special || x->special_len != y->special_len ||
                (x->special_len && memcmp(x->special_data, y->special_data, x->special_len)))
                return 0;
            break;
        }
    }
    return 1;
#undef SEQ
}

/* --------------------------------------------------- worked examples */

static void test_example_a_aci(void)
{
    size_t len, outlen;
    uint8_t *msg = t_from_hex(HEX_A, &len), *out = NULL;
    flist_acl acl;
    hub_err err = { 0 };
    T_REQUIRE(msg && len == 80);
    T_REQUIRE(flist_acl_decode(msg, len, &acl, &err) == 0);
    T_STREQ(acl.uname, "root");
    T_STREQ(acl.gname, "root");
    T_CHECK(acl.mode == 0755);
    T_CHECK(acl.id == 0);
    T_CHECK(acl.uid == 0);
    T_CHECK(acl.gid == 0);
    T_CHECK(flist_acl_encode(&acl, &out, &outlen, &err) == 0);
    T_CHECK(outlen == len && out && memcmp(out, msg, len) == 0);
    free(out);
    flist_acl_clear(&acl);
    T_CHECK(acl.uname == NULL && acl.gname == NULL);

    /* "1234"/"5678", 04755, 1234, 5678: the three data words of §4.6 (a) */
    flist_acl b = { .uname = "1234", .gname = "5678", .mode = 04755, .uid = 1234, .gid = 5678 };
    static const uint8_t words[24] = {
        0xED, 0x09, 0, 0, 0, 0, 0, 0,
        0x2D, 0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xD1, 0xE9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    };
    T_REQUIRE(flist_acl_encode(&b, &out, &outlen, &err) == 0);
    T_CHECK(outlen == 80 && memcmp(out + 16, words, 24) == 0);
    T_REQUIRE(flist_acl_decode(out, outlen, &acl, &err) == 0);
    T_STREQ(acl.uname, "1234");
    T_STREQ(acl.gname, "5678");
    T_CHECK(acl.mode == 04755 && acl.uid == 1234 && acl.gid == 5678);
    flist_acl_clear(&acl);
    free(out);

    /* uid/gid -1 are stored as zero words */
    flist_acl c = { .uname = "x", .gname = "y", .mode = 0644, .uid = -1, .gid = -1 };
    T_REQUIRE(flist_acl_encode(&c, &out, &outlen, &err) == 0);
    static const uint8_t zero[16] = { 0 };
    T_CHECK(memcmp(out + 24, zero, 16) == 0);
    free(out);
    free(msg);
}

static void test_example_b_empty_root(void)
{
    size_t len, outlen;
    uint8_t *msg = t_from_hex(HEX_B, &len), *out = NULL;
    flist_dir *d = NULL;
    hub_err err = { 0 };
    T_REQUIRE(msg && len == 160);
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_STREQ(d->name, "");
    T_STREQ(d->location, "");
    T_STREQ(d->parent, FLIST_ROOT_KEY);
    T_STREQ(d->aclkey, "d7683de000c13689");
    T_CHECK(d->size == 4096 && d->mtime == 0 && d->ctime == 0);
    T_CHECK(d->nentries == 0 && d->entries == NULL);
    T_CHECK(flist_dir_encode(d, &out, &outlen, &err) == 0);
    T_CHECK(outlen == len && out && memcmp(out, msg, len) == 0);
    free(out);

    /* NULL name/location are written as empty Text: same bytes */
    flist_dir n = { .parent = FLIST_ROOT_KEY, .aclkey = "d7683de000c13689", .size = 4096 };
    T_REQUIRE(flist_dir_encode(&n, &out, &outlen, &err) == 0);
    T_CHECK(outlen == len && memcmp(out, msg, len) == 0);
    free(out);
    flist_dir_free(d);
    free(msg);
}

static void test_example_c_file(void)
{
    size_t len, outlen;
    uint8_t *msg = t_from_hex(HEX_C, &len), *out = NULL;
    flist_dir *d = NULL;
    hub_err err = { 0 };
    static const uint8_t hash[16] = { 0x88, 0xFA, 0x01, 0xB5, 0x0C, 0x46, 0xC4, 0xDA,
                                      0x94, 0xA1, 0xD7, 0xE4, 0xCB, 0x54, 0x82, 0x28 };
    static const uint8_t key[16] = { 0xD4, 0x12, 0x5B, 0x8B, 0x56, 0xDA, 0xD8, 0x1E,
                                     0xA8, 0x78, 0x4B, 0x93, 0x31, 0xAC, 0x88, 0xD4 };
    T_REQUIRE(msg && len == 320);
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_STREQ(d->name, "deeper");
    T_STREQ(d->location, "sub/deeper");
    T_STREQ(d->parent, "73d580a1148567000871c163ef0e1ea3");
    T_STREQ(d->aclkey, "d7683de000c13689");
    T_CHECK(d->size == 4096 && d->mtime == 0x6B08EB76 && d->ctime == 0x6B08EB76);
    T_REQUIRE(d->nentries == 1);
    const flist_inode *f = &d->entries[0];
    T_STREQ(f->name, "file");
    T_STREQ(f->aclkey, "7be53aa9ef0fd39a");
    T_CHECK(f->type == FLIST_FILE && f->size == 5);
    T_CHECK(f->mtime == 0x6B08EB76 && f->ctime == 0x6B08EB78);
    T_CHECK(f->block_size == 128 && f->nblocks == 1);
    T_CHECK(f->dirkey == NULL && f->target == NULL && f->special_data == NULL);
    T_REQUIRE(f->blocks);
    T_CHECK(memcmp(f->blocks[0].id, hash, 16) == 0);
    T_CHECK(memcmp(f->blocks[0].key, key, 16) == 0);
    T_REQUIRE(flist_dir_encode(d, &out, &outlen, &err) == 0);
    T_CHECK(outlen == len && memcmp(out, msg, len) == 0);
    if (outlen != len || memcmp(out, msg, len))
        dump_diff(out, outlen, msg, len);
    free(out);
    flist_dir_free(d);
    free(msg);
}

/* Every kind of entry; exact bytes of the parts §4.5 fixes. */
static void test_all_kinds_layout(void)
{
    flist_inode e[4] = { 0 };
    flist_block blk;
    block_bytes(&blk, 1);
    e[0] = (flist_inode){ .name = "d", .type = FLIST_DIR, .dirkey = "k", .size = 4096 };
    e[1] = (flist_inode){ .name = "empty", .type = FLIST_FILE, .block_size = 128 };
    e[2] = (flist_inode){ .name = "l", .type = FLIST_LINK, .target = "/t", .size = 2 };
    e[3] = (flist_inode){ .name = "null", .type = FLIST_SPECIAL, .special = FLIST_SPECIAL_CHARDEV,
                          .special_data = (uint8_t *)"1,3", .special_len = 3 };
    flist_dir d = { .name = "x", .location = "x", .parent = FLIST_ROOT_KEY, .aclkey = "a",
                    .size = 4096, .nentries = 4, .entries = e };
    uint8_t *out = NULL;
    size_t outlen;
    hub_err err = { 0 };
    T_REQUIRE(flist_dir_encode(&d, &out, &outlen, &err) == 0);
    /* words after the 8-byte table: 0 root, 1 tag, 2..25 the four inodes;
     * 26 SubDir (0,1), 27 "k", 28 "d", 29 "" aclkey (NULL),
     * 30-31 File (blockSize 128, blocks null), 32 "empty", 33 "",
     * 34 Link, 35 "/t", 36 "l", 37 "", 38 "1,3", 39-40 Special, ... */
    const uint8_t *w = out + 8;
    uint64_t v;
#define WORD(i) (memcpy(&v, w + 8 * (i), 8), v)
    T_CHECK(WORD(1) == TAG(4, 3, 3));
    T_CHECK(WORD(2 + 6 * 0 + 4) == P_S(26 - (2 + 4) - 1, 0, 1));      /* dir -> SubDir */
    T_CHECK(WORD(26) == P_L(0, 2, 2));                               /* SubDir.key -> 27 */
    T_CHECK(WORD(30) == 128);                                         /* File.blockSize */
    T_CHECK(WORD(31) == 0);                                           /* no blocks: null */
    T_CHECK(WORD(2 + 6 * 1 + 1) == 1);                                /* discriminant file */
    T_CHECK(WORD(2 + 6 * 2 + 1) == 2);                                /* link */
    T_CHECK(WORD(2 + 6 * 3 + 1) == 3);                                /* special */
    T_CHECK(WORD(34) == P_L(0, 2, 3));                                /* Link.target -> 35 */
    T_CHECK(WORD(38) == 0x332C31);                                    /* "1,3" data first */
    T_CHECK(WORD(39) == FLIST_SPECIAL_CHARDEV);                       /* Special.type */
    T_CHECK(WORD(40) == P_L(-3, 2, 3));                               /* Special.data -> 38 */
#undef WORD
    flist_dir *back = NULL;
    T_REQUIRE(flist_dir_decode(out, outlen, &back, &err) == 0);
    /* NULL strings decode as "": compare those, then the rest deeply */
    for (int i = 0; i < 4; i++) {
        T_STREQ(back->entries[i].aclkey, "");
        free(back->entries[i].aclkey);
        back->entries[i].aclkey = NULL;
    }
    T_CHECK(back->entries[1].nblocks == 0 && back->entries[1].blocks == NULL);
    T_CHECK(dir_equal(&d, back));
    T_CHECK(back->entries[3].special == FLIST_SPECIAL_CHARDEV && back->entries[3].special_len == 3);
    flist_dir_free(back);
    free(out);

    /* programming errors are refused, not encoded */
    e[1].nblocks = 2;
    T_CHECK(flist_dir_encode(&d, &out, &outlen, &err) == -1 && has(&err, "blocks"));
    e[1].nblocks = 0;
    e[2].type = (flist_type)9;
    T_CHECK(flist_dir_encode(&d, &out, &outlen, &err) == -1 && has(&err, "unknown type"));
    e[2].type = FLIST_LINK;
    e[1].blocks = &blk;
    e[1].nblocks = 1;
    T_CHECK(flist_dir_encode(&d, &out, &outlen, &err) == 0);
    free(out);
}

/* -------------------------------------------------- multi-segment */

static void test_multisegment_aci(void)
{
    tseg s[4] = { 0 };
    /* seg0: root -> single far -> seg1 word 0 (landing pad) */
    set(&s[0], 0, P_F(0, 0, 1));
    set(&s[1], 0, P_S(0, 3, 3));               /* pad: struct at seg1 word 1 */
    set(&s[1], 1, 0644);
    set(&s[1], 2, ~(uint64_t)1000);
    set(&s[1], 3, ~(uint64_t)1001);
    set(&s[1], 4, P_F(1, 0, 2));               /* uname: double far -> seg2 pad */
    set(&s[1], 5, P_L(1, 2, 4));               /* gname: local, word 7 */
    set(&s[1], 6, 0);                          /* rights: null */
    put_text(&s[1], 7, "grp", 4);
    set(&s[2], 0, P_F(0, 0, 3));               /* double-far pad: object at seg3 word 0 */
    set(&s[2], 1, P_L(0, 2, 6));               /* tag: byte list of 6 */
    put_text(&s[3], 0, "alice", 6);
    size_t len;
    uint8_t *msg = tmsg(s, 4, &len);
    flist_acl acl;
    hub_err err = { 0 };
    T_REQUIRE(msg);
    T_REQUIRE(flist_acl_decode(msg, len, &acl, &err) == 0);
    T_STREQ(acl.uname, "alice");
    T_STREQ(acl.gname, "grp");
    T_CHECK(acl.mode == 0644 && acl.uid == 1000 && acl.gid == 1001 && acl.id == 0);
    flist_acl_clear(&acl);
    free(msg);
}

static void test_multisegment_dir(void)
{
    tseg s[5] = { 0 };
    set(&s[0], 0, P_F(1, 0, 1));               /* root: double far */
    set(&s[1], 0, P_F(0, 0, 2));               /* -> Dir at seg2 word 0 */
    set(&s[1], 1, P_S(0, 2, 5));               /* tag: struct 2/5 */
    set(&s[2], 0, 4096);
    set(&s[2], 1, 7 | (uint64_t)9 << 32);      /* mtime 7, ctime 9 */
    set(&s[2], 2, P_F(0, 0, 3));               /* name: far -> seg3 pad 0 */
    set(&s[2], 3, P_L(3, 2, 4));               /* location -> word 7 */
    set(&s[2], 4, P_F(0, 1, 3));               /* contents: far -> seg3 pad 1 */
    set(&s[2], 5, 0);                          /* parent: null -> "" */
    set(&s[2], 6, P_L(1, 2, 4));               /* aclkey -> word 8 */
    put_text(&s[2], 7, "x/y", 4);
    put_text(&s[2], 8, "acl", 4);
    set(&s[3], 0, P_L(1, 2, 2));               /* pad: "y" at word 2 */
    set(&s[3], 1, P_L(1, 7, 16));              /* pad: composite at word 3, 16 words */
    put_text(&s[3], 2, "y", 2);
    /* two inodes with bigger sections (4 data, 4 ptrs) than the schema's */
    set(&s[3], 3, TAG(2, 4, 4));
    set(&s[3], 4, 10);                         /* size */
    set(&s[3], 5, 2 | (uint64_t)11 << 32);     /* link, mtime 11 */
    set(&s[3], 6, 12);                         /* ctime */
    set(&s[3], 7, 0xDEADBEEF);                 /* unknown data word */
    set(&s[3], 8, P_L(11, 2, 3));              /* name -> 20 */
    set(&s[3], 9, P_F(0, 0, 4));               /* Link in seg4 */
    set(&s[3], 10, 0);                         /* aclkey null */
    set(&s[3], 11, P_L(0, 2, 1));              /* unknown pointer, ignored */
    set(&s[3], 12, 0);
    set(&s[3], 13, 3);                         /* special */
    set(&s[3], 14, 0);
    set(&s[3], 15, 0);
    set(&s[3], 16, P_L(4, 2, 4));              /* name -> 21 */
    set(&s[3], 17, P_S(4, 1, 1));              /* Special at 22 */
    set(&s[3], 18, P_L(6, 2, 2));              /* aclkey -> 25 */
    set(&s[3], 19, 0);
    put_text(&s[3], 20, "ln", 3);
    put_text(&s[3], 21, "dev", 4);
    set(&s[3], 22, FLIST_SPECIAL_CHARDEV);
    set(&s[3], 23, P_L(0, 2, 3));              /* data -> 24, 3 bytes */
    put_text(&s[3], 24, "1,3", 3);
    put_text(&s[3], 25, "k", 2);
    set(&s[4], 0, P_S(0, 0, 1));               /* pad: Link at word 1 */
    set(&s[4], 1, P_L(0, 2, 5));               /* Link.target -> word 2 */
    put_text(&s[4], 2, "/tgt", 5);

    size_t len;
    uint8_t *msg = tmsg(s, 5, &len);
    flist_dir *d = NULL;
    hub_err err = { 0 };
    T_REQUIRE(msg);
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_STREQ(d->name, "y");
    T_STREQ(d->location, "x/y");
    T_STREQ(d->parent, "");
    T_STREQ(d->aclkey, "acl");
    T_CHECK(d->size == 4096 && d->mtime == 7 && d->ctime == 9);
    T_REQUIRE(d->nentries == 2);
    T_STREQ(d->entries[0].name, "ln");
    T_CHECK(d->entries[0].type == FLIST_LINK && d->entries[0].size == 10);
    T_CHECK(d->entries[0].mtime == 11 && d->entries[0].ctime == 12);
    T_STREQ(d->entries[0].target, "/tgt");
    T_STREQ(d->entries[0].aclkey, "");
    T_STREQ(d->entries[1].name, "dev");
    T_CHECK(d->entries[1].type == FLIST_SPECIAL);
    T_CHECK(d->entries[1].special == FLIST_SPECIAL_CHARDEV);
    T_CHECK(d->entries[1].special_len == 3 &&
            memcmp(d->entries[1].special_data, "1,3", 3) == 0);
    T_STREQ(d->entries[1].aclkey, "k");
    flist_dir_free(d);

    /* the same message with the double-far pad's tag word broken */
    s[1].w[1] = P_F(0, 0, 2);
    free(msg);
    msg = tmsg(s, 5, &len);
    T_CHECK(flist_dir_decode(msg, len, &d, &err) == -1 && has(&err, "double-far tag"));
    free(msg);
}

/* Struct sections smaller than the schema: missing fields are defaults. */
static void test_small_sections(void)
{
    tseg s = { 0 };
    set(&s, 0, P_S(0, 1, 2));                  /* ACI with 1 data word, 2 ptrs */
    set(&s, 1, 0755 | (uint64_t)42 << 32);     /* mode, id */
    set(&s, 2, P_L(1, 2, 2));
    set(&s, 3, P_L(1, 2, 2));
    put_text(&s, 4, "u", 2);
    put_text(&s, 5, "g", 2);
    size_t len;
    uint8_t *msg = tmsg(&s, 1, &len);
    flist_acl acl;
    hub_err err = { 0 };
    T_REQUIRE(flist_acl_decode(msg, len, &acl, &err) == 0);
    T_CHECK(acl.mode == 0755 && acl.id == 42);
    T_CHECK(acl.uid == -1 && acl.gid == -1);   /* absent: XOR default */
    T_STREQ(acl.uname, "u");
    T_STREQ(acl.gname, "g");
    flist_acl_clear(&acl);
    free(msg);

    /* Dir with 1 data word and 3 pointers: no times, parent, aclkey */
    tseg t = { 0 };
    set(&t, 0, P_S(0, 1, 3));
    set(&t, 1, 4096);
    set(&t, 2, 0);
    set(&t, 3, P_L(1, 2, 2));
    set(&t, 4, P_L(1, 7, 0));                  /* contents: empty composite */
    put_text(&t, 5, "n", 2);
    set(&t, 6, TAG(0, 3, 3));
    msg = tmsg(&t, 1, &len);
    flist_dir *d = NULL;
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_STREQ(d->name, "");
    T_STREQ(d->location, "n");
    T_STREQ(d->parent, "");
    T_STREQ(d->aclkey, "");
    T_CHECK(d->size == 4096 && d->mtime == 0 && d->nentries == 0);
    flist_dir_free(d);
    free(msg);

    /* an ACI whose root pointer is null: every field default */
    tseg z = { 0 };
    set(&z, 0, 0);
    msg = tmsg(&z, 1, &len);
    T_REQUIRE(flist_acl_decode(msg, len, &acl, &err) == 0);
    T_STREQ(acl.uname, "");
    T_CHECK(acl.uid == -1 && acl.mode == 0);
    flist_acl_clear(&acl);
    free(msg);
}

/* ------------------------------------------------------ big round trip */

static void test_roundtrip_10000(void)
{
    enum { N = 10000 };
    flist_dir d = { .name = "big", .location = "a/big", .parent = "p", .aclkey = "acl",
                    .size = 4096, .mtime = 1704067200, .ctime = 1704067201 };
    d.entries = calloc(N, sizeof *d.entries);
    d.nentries = N;
    char buf[128];
    T_REQUIRE(d.entries);
    for (unsigned i = 0; i < N; i++) {
        flist_inode *e = &d.entries[i];
        snprintf(buf, sizeof buf, "entry-%05u-%s", i, i % 3 ? "name" : "a-much-longer-name-x");
        e->name = strdup(buf);
        e->aclkey = strdup(i % 2 ? "d7683de000c13689" : "5f64cf1389d15471");
        e->mtime = 1704067200u + i;
        e->ctime = 0xFFFFFFF0u + (i % 16);
        e->type = (flist_type)(i % 4);
        switch (e->type) {
        case FLIST_DIR:
            snprintf(buf, sizeof buf, "a/big/entry-%05u", i);
            e->dirkey = malloc(FLIST_DIRKEY_LEN + 1);
            flist_path_key(buf, e->dirkey);
            e->size = 4096;
            break;
        case FLIST_FILE:
            e->block_size = 128;
            e->nblocks = i % 40 == 1 ? 0 : 1 + (i % 97);
            e->size = (uint64_t)e->nblocks * FLIST_CHUNK_SIZE - i % 7;
            if (e->nblocks) {
                e->blocks = calloc(e->nblocks, sizeof *e->blocks);
                for (size_t k = 0; k < e->nblocks; k++)
                    block_bytes(&e->blocks[k], i + (unsigned)k);
            }
            break;
        case FLIST_LINK:
            snprintf(buf, sizeof buf, "../target/%u/%s", i, i % 5 ? "x" : "");
            e->target = strdup(buf);
            e->size = strlen(buf);
            break;
        case FLIST_SPECIAL:
            e->special = (flist_special_type)(i % 5);
            snprintf(buf, sizeof buf, i % 2 ? "%u,%u" : "(nothing)", i / 256, i % 256);
            e->special_len = strlen(buf);
            e->special_data = malloc(e->special_len);
            memcpy(e->special_data, buf, e->special_len);
            break;
        }
    }
    uint8_t *out = NULL, *again = NULL;
    size_t outlen = 0, againlen = 0;
    hub_err err = { 0 };
    flist_dir *back = NULL;
    T_REQUIRE(flist_dir_encode(&d, &out, &outlen, &err) == 0);
    T_CHECK(outlen > 4u * 1024 * 1024);       /* beyond zflist's 4 MiB (Q9) */
    uint32_t hdr[2];
    memcpy(hdr, out, 8);
    T_CHECK(hdr[0] == 0 && (size_t)hdr[1] * 8 + 8 == outlen);
    T_REQUIRE(flist_dir_decode(out, outlen, &back, &err) == 0);
    T_CHECK(dir_equal(&d, back));
    T_REQUIRE(flist_dir_encode(back, &again, &againlen, &err) == 0);
    T_CHECK(againlen == outlen && memcmp(again, out, outlen) == 0);
    flist_dir_free(back);
    free(out);
    free(again);
    for (size_t i = 0; i < d.nentries; i++)
        flist_inode_clear(&d.entries[i]);
    free(d.entries);
}

/* ------------------------------------------------------ hostile input */

static void expect_dir_fail(const uint8_t *msg, size_t len, const char *what)
{
    flist_dir *d = (flist_dir *)1;
    hub_err err = { 0 };
    int rc = flist_dir_decode(msg, len, &d, &err);
    T_CHECK(rc == -1);
    T_CHECK(d == NULL);
    T_CHECK(has(&err, what));
    if (rc == 0)
        flist_dir_free(d);
}

static void expect_seg_fail(const tseg *s, unsigned n, const char *what)
{
    size_t len;
    uint8_t *msg = tmsg(s, n, &len);
    expect_dir_fail(msg, len, what);
    free(msg);
}

static void test_hostile_framing(void)
{
    uint8_t b[24] = { 0 };
    expect_dir_fail(NULL, 0, "truncated");
    expect_dir_fail(b, 0, "truncated");
    expect_dir_fail(b, 4, "truncated");
    expect_dir_fail(b, 7, "truncated");
    /* 1 segment of 0 words */
    expect_dir_fail(b, 8, "first segment is empty");
    /* segment count 2^32 (0xFFFFFFFF + 1) and 1000 */
    memset(b, 0xFF, 4);
    expect_dir_fail(b, sizeof b, "segment count");
    uint32_t v = 999;
    memcpy(b, &v, 4);
    expect_dir_fail(b, sizeof b, "segment count");
    /* 3 segments: the table needs 16 bytes, 12 present */
    v = 2;
    memcpy(b, &v, 4);
    expect_dir_fail(b, 12, "segment table");
    /* 1 segment of 100 words, 2 present; a huge size must not overflow */
    v = 0;
    memcpy(b, &v, 4);
    v = 100;
    memcpy(b + 4, &v, 4);
    expect_dir_fail(b, 24, "truncated");
    v = 0xFFFFFFFF;
    memcpy(b + 4, &v, 4);
    expect_dir_fail(b, 24, "truncated");
    /* 1 segment of 1 word (a null root) and 8 bytes more: they are
     * ignored, like standard readers do; the null root is an empty Dir */
    v = 1;
    memcpy(b + 4, &v, 4);
    memset(b + 8, 0, 8);
    memset(b + 16, 0xEE, 8);
    flist_dir *d = NULL;
    hub_err e2 = { 0 };
    T_CHECK(flist_dir_decode(b, 24, &d, &e2) == 0);
    T_CHECK(d && d->nentries == 0 && d->name && d->name[0] == 0 && d->size == 0);
    flist_dir_free(d);

    flist_acl acl;
    hub_err err = { 0 };
    T_CHECK(flist_acl_decode(b, 5, &acl, &err) == -1 && has(&err, "ACI: capnp: message truncated"));
    T_CHECK(acl.uname == NULL && acl.gname == NULL);
}

static void test_hostile_pointers(void)
{
    tseg s = { 0 };
    /* root struct beyond the segment */
    set(&s, 0, P_S(100, 2, 5));
    expect_seg_fail(&s, 1, "pointer out of bounds");
    /* negative offset before the segment start */
    set(&s, 0, P_S(-5, 2, 5));
    expect_seg_fail(&s, 1, "pointer out of bounds");
    /* struct that starts inside but ends outside */
    memset(&s, 0, sizeof s);
    set(&s, 0, P_S(0, 2, 5));
    set(&s, 3, 0);
    expect_seg_fail(&s, 1, "pointer out of bounds");
    /* far pointer to a missing segment, landing pad out of bounds,
     * far pointer landing on a far pointer, capability */
    memset(&s, 0, sizeof s);
    set(&s, 0, P_F(0, 0, 5));
    expect_seg_fail(&s, 1, "missing segment 5");
    set(&s, 0, P_F(0, 9, 0));
    expect_seg_fail(&s, 1, "out of bounds");
    set(&s, 0, P_F(0, 1, 0));
    set(&s, 1, P_F(0, 1, 0));
    expect_seg_fail(&s, 1, "far pointer lands on another far pointer");
    set(&s, 0, P_F(1, 1, 0));                   /* double far whose pad is a double far */
    set(&s, 1, P_F(1, 1, 0));
    set(&s, 2, P_S(0, 0, 0));
    expect_seg_fail(&s, 1, "double-far landing pad");
    set(&s, 0, P_F(1, 1, 0));                   /* double far -> far to segment 3 */
    set(&s, 1, P_F(0, 0, 3));
    set(&s, 2, P_S(0, 0, 0));
    expect_seg_fail(&s, 1, "missing segment 3");
    set(&s, 0, 3);
    expect_seg_fail(&s, 1, "capability");
    /* root is a list, not a struct */
    set(&s, 0, P_L(0, 2, 1));
    expect_seg_fail(&s, 1, "expected a struct pointer");
}

/* A Dir at word 1 (2 data, 5 ptrs: words 3-7) whose contents pointer (word
 * 5) is set by the caller; words from 8 are free. */
static void dir_skeleton(tseg *s)
{
    memset(s, 0, sizeof *s);
    set(s, 0, P_S(0, 2, 5));
    set(s, 1, 4096);
    set(s, 7, 0);
}

static void test_hostile_lists(void)
{
    tseg s;
    /* a list pointing to itself: its "tag" is the pointer */
    dir_skeleton(&s);
    set(&s, 5, P_L(-1, 7, 0));
    expect_seg_fail(&s, 1, "composite list tag");
    /* a struct pointing to itself as root: name is not a list */
    memset(&s, 0, sizeof s);
    set(&s, 0, P_S(-1, 0, 1));
    expect_seg_fail(&s, 1, "Dir.name: capnp: expected a list pointer");
    /* contents as a byte list (wrong element size) */
    dir_skeleton(&s);
    set(&s, 5, P_L(2, 2, 8));
    set(&s, 8, 0);
    expect_seg_fail(&s, 1, "Dir.contents: capnp: expected a list of structs");
    /* composite elements overrun the list's words */
    dir_skeleton(&s);
    set(&s, 5, P_L(2, 7, 6));
    set(&s, 8, TAG(3, 3, 3));
    set(&s, 14, 0);
    expect_seg_fail(&s, 1, "overruns");
    /* composite list longer than the segment */
    dir_skeleton(&s);
    set(&s, 5, P_L(2, 7, 60));
    set(&s, 8, TAG(10, 3, 3));
    expect_seg_fail(&s, 1, "pointer out of bounds");
    /* 2^30-1 empty structs in 0 words: amplification */
    dir_skeleton(&s);
    set(&s, 5, P_L(2, 7, 0));
    set(&s, 8, TAG(0x3FFFFFFF, 0, 0));
    expect_seg_fail(&s, 1, "traversal limit");
    /* text without its NUL, with a NUL inside, of length 0 */
    dir_skeleton(&s);
    set(&s, 3, P_L(4, 2, 3));
    put_text(&s, 8, "abc", 3);
    expect_seg_fail(&s, 1, "Dir.name: capnp: text is not NUL-terminated");
    set(&s, 3, P_L(4, 2, 4));
    put_text(&s, 8, "a\0c", 4);
    expect_seg_fail(&s, 1, "text contains a NUL");
    set(&s, 3, P_L(4, 2, 0));
    expect_seg_fail(&s, 1, "not NUL-terminated");
    /* text as a list of 16-bit elements */
    set(&s, 3, P_L(4, 3, 2));
    expect_seg_fail(&s, 1, "expected a byte list");
}

/* One inode (words 9-14 after a tag at 8) of the given type whose attribute
 * pointer (word 13) the caller fills; words from 15 are free. */
static void one_inode(tseg *s, uint16_t type)
{
    dir_skeleton(s);
    set(s, 5, P_L(2, 7, 6));
    set(s, 8, TAG(1, 3, 3));
    set(s, 10, type);
    set(s, 14, 0);
}

static void test_hostile_inodes(void)
{
    tseg s;
    /* unknown discriminant */
    one_inode(&s, 9);
    expect_seg_fail(&s, 1, "Dir.contents[0].attributes: capnp: unknown Inode type 9");
    /* blocks as a byte list */
    one_inode(&s, FLIST_FILE);
    set(&s, 13, P_S(1, 1, 1));                 /* File at 15 */
    set(&s, 15, 128);
    set(&s, 16, P_L(0, 2, 32));                /* blocks -> 17, bytes */
    set(&s, 20, 0);
    expect_seg_fail(&s, 1, "Dir.contents[0].file.blocks: capnp: expected a list of structs");
    /* blocks as a list of pointers: also refused */
    set(&s, 16, P_L(0, 6, 2));
    expect_seg_fail(&s, 1, "expected a list of structs");
    /* a 15-byte hash */
    one_inode(&s, FLIST_FILE);
    set(&s, 13, P_S(1, 1, 1));                 /* File at 15 */
    set(&s, 15, 128);
    set(&s, 16, P_L(0, 7, 2));                 /* blocks -> tag at 17 */
    set(&s, 17, TAG(1, 0, 2));
    set(&s, 18, P_L(1, 2, 15));                /* hash -> 20, 15 bytes */
    set(&s, 19, P_L(2, 2, 16));                /* key -> 22, 16 bytes */
    set(&s, 20, 0x0102030405060708);
    set(&s, 21, 0x0102030405060708);
    set(&s, 22, 0x1112131415161718);
    set(&s, 23, 0x1112131415161718);
    expect_seg_fail(&s, 1, "Dir.contents[0].file.blocks[0]: capnp: FileBlock.hash is 15 bytes, expected 16");
    set(&s, 18, P_L(1, 2, 16));                /* fixed: decodes */
    size_t len;
    uint8_t *msg = tmsg(&s, 1, &len);
    flist_dir *d = NULL;
    hub_err err = { 0 };
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_CHECK(d->entries[0].nblocks == 1 && d->entries[0].blocks[0].id[0] == 0x08 &&
            d->entries[0].blocks[0].key[15] == 0x11);
    flist_dir_free(d);
    free(msg);
    set(&s, 19, 0);                            /* null key */
    expect_seg_fail(&s, 1, "FileBlock.key is 0 bytes");
    set(&s, 17, TAG(1, 0, 1));                 /* blocks of one pointer */
    expect_seg_fail(&s, 1, "hash and key need 2");
    /* the attribute is a list, not a struct */
    one_inode(&s, FLIST_LINK);
    set(&s, 13, P_L(1, 2, 2));
    expect_seg_fail(&s, 1, "Dir.contents[0].link.target: capnp: expected a struct pointer");
}

/* Many pointers to one big text: the traversal limit stops the
 * amplification, while a few are fine. */
static uint8_t *shared_text_dir(uint32_t n, uint32_t textwords, size_t *len)
{
    uint32_t words = 9 + 6 * n + textwords;
    size_t header = 8;
    uint8_t *b = calloc(1, header + words * 8);
    uint64_t *w = malloc(words * 8);
    if (!b || !w) {
        free(b);
        free(w);
        return NULL;
    }
    memset(w, 0, words * 8);
    uint32_t text = 9 + 6 * n;
    w[0] = P_S(0, 2, 5);
    w[1] = 4096;
    w[5] = P_L(2, 7, 6 * n);
    w[8] = TAG(n, 3, 3);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = 9 + 6 * i + 3;           /* name pointer */
        w[at] = P_L((int32_t)(text - at - 1), 2, textwords * 8);
    }
    memset(&w[text], 'A', textwords * 8 - 1);
    ((uint8_t *)&w[text])[textwords * 8 - 1] = 0;
    uint32_t hdr[2] = { 0, words };
    memcpy(b, hdr, 8);
    memcpy(b + header, w, words * 8);
    free(w);
    *len = header + words * 8;
    return b;
}

static void test_traversal_limit(void)
{
    size_t len;
    flist_dir *d = NULL;
    hub_err err = { 0 };
    uint8_t *msg = shared_text_dir(4, 2000, &len);
    T_REQUIRE(msg);
    T_REQUIRE(flist_dir_decode(msg, len, &d, &err) == 0);
    T_CHECK(d->nentries == 4 && strlen(d->entries[3].name) == 2000 * 8 - 1);
    flist_dir_free(d);
    free(msg);
    msg = shared_text_dir(64, 2000, &len);
    T_REQUIRE(msg);
    expect_dir_fail(msg, len, "traversal limit exceeded");
    free(msg);
}

static void test_nesting_limit(void)
{
    /* a chain of 100 structs, each pointing to the next (and a loop) */
    tseg s = { 0 };
    for (uint32_t i = 0; i < 95; i++)
        set(&s, i, P_S(0, 0, 1));
    size_t len;
    uint8_t *msg = tmsg(&s, 1, &len);
    capn_reader r;
    capn_struct st;
    hub_err err = { 0 };
    T_REQUIRE(capn_reader_init(&r, msg, len, &err) == 0);
    T_REQUIRE(capn_root(&r, &st, &err) == 0);
    int i, rc = 0;
    for (i = 0; i < 90 && rc == 0; i++)
        rc = capn_get_struct(&st, 0, &st, &err);
    T_CHECK(rc == -1 && i == (int)CAPN_MAX_DEPTH + 1 && has(&err, "nesting deeper"));
    free(msg);

    set(&s, 0, P_S(-1, 0, 1));                 /* a struct whose pointer is itself */
    msg = tmsg(&s, 1, &len);
    T_REQUIRE(capn_reader_init(&r, msg, len, &err) == 0);
    T_REQUIRE(capn_root(&r, &st, &err) == 0);
    for (i = 0, rc = 0; i < 1000 && rc == 0; i++)
        rc = capn_get_struct(&st, 0, &st, &err);
    T_CHECK(rc == -1 && i <= (int)CAPN_MAX_DEPTH + 1);
    /* reading fields beyond the sections gives defaults */
    T_CHECK(capn_read_u64(&st, 0) == 0 && capn_read_u16(&st, 1000000) == 0);
    free(msg);
}

/* ------------------------------------------------------ random mutation */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void mutate_all(const uint8_t *msg, size_t len, int iterations, int *decoded)
{
    uint8_t *m = malloc(len);
    for (int it = 0; it < iterations && m; it++) {
        memcpy(m, msg, len);
        size_t mlen = len;
        unsigned k = 1 + (unsigned)(rnd() % 4);
        for (unsigned j = 0; j < k; j++) {
            size_t pos = rnd() % len;
            switch (rnd() % 4) {
            case 0: m[pos] = (uint8_t)rnd(); break;
            case 1: m[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 2: m[pos] = (uint8_t)(rnd() % 2 ? 0xFF : 0x00); break;
            default: mlen = 8 * (rnd() % (len / 8 + 1)); break;   /* truncate */
            }
        }
        uint8_t *exact = malloc(mlen ? mlen : 1);   /* exact size: ASan sees over-reads */
        memcpy(exact, m, mlen);
        flist_dir *d = NULL;
        flist_acl acl;
        hub_err err = { 0 };
        if (flist_dir_decode(exact, mlen, &d, &err) == 0) {
            (*decoded)++;
            uint8_t *out;
            size_t outlen;
            if (flist_dir_encode(d, &out, &outlen, &err) == 0)
                free(out);
            flist_dir_free(d);
        } else {
            T_CHECK(d == NULL && err.msg[0] != 0);
        }
        if (flist_acl_decode(exact, mlen, &acl, &err) == 0)
            flist_acl_clear(&acl);
        free(exact);
    }
    free(m);
}

static void test_random_mutations(void)
{
    size_t la, lb, lc, lm, lk;
    uint8_t *a = t_from_hex(HEX_A, &la), *b = t_from_hex(HEX_B, &lb), *c = t_from_hex(HEX_C, &lc);
    /* an encoded dir of every kind, and a multi-segment one */
    flist_block blk[2];
    block_bytes(&blk[0], 5);
    block_bytes(&blk[1], 6);
    flist_inode e[4] = {
        { .name = "d", .type = FLIST_DIR, .dirkey = "k" },
        { .name = "f", .type = FLIST_FILE, .block_size = 128, .nblocks = 2, .blocks = blk },
        { .name = "l", .type = FLIST_LINK, .target = "/t" },
        { .name = "s", .type = FLIST_SPECIAL, .special_data = (uint8_t *)"8,1", .special_len = 3 },
    };
    flist_dir d = { .name = "x", .location = "x", .parent = "p", .aclkey = "a", .nentries = 4,
                    .entries = e };
    uint8_t *k = NULL;
    hub_err err = { 0 };
    T_REQUIRE(flist_dir_encode(&d, &k, &lk, &err) == 0);
    tseg s[3] = { 0 };
    set(&s[0], 0, P_F(0, 0, 1));
    set(&s[1], 0, P_S(0, 2, 5));
    set(&s[1], 1, 4096);
    set(&s[1], 3, P_F(1, 0, 2));
    set(&s[1], 5, P_F(0, 2, 2));
    set(&s[1], 7, 0);
    set(&s[2], 0, P_F(0, 3, 2));
    set(&s[2], 1, P_L(0, 2, 3));
    set(&s[2], 2, P_L(2, 7, 6));
    put_text(&s[2], 3, "ab", 3);
    set(&s[2], 4, 0);
    set(&s[2], 5, TAG(1, 3, 3));
    set(&s[2], 11, 0);
    uint8_t *m = tmsg(s, 3, &lm);
    flist_dir *dm = NULL;
    T_REQUIRE(flist_dir_decode(m, lm, &dm, &err) == 0);   /* the seed itself is valid */
    T_STREQ(dm->name, "ab");
    T_CHECK(dm->nentries == 1);
    flist_dir_free(dm);

    int decoded = 0;
    mutate_all(a, la, 2000, &decoded);
    mutate_all(b, lb, 2000, &decoded);
    mutate_all(c, lc, 3000, &decoded);
    mutate_all(k, lk, 3000, &decoded);
    mutate_all(m, lm, 2000, &decoded);
    printf("     random mutations: %d of 12000 still decoded as a Dir\n", decoded);
    T_CHECK(decoded > 0);   /* mutations of padding/text bytes stay valid */
    free(a);
    free(b);
    free(c);
    free(k);
    free(m);
}

static void check_little_endian(void)
{
    uint32_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    T_REQUIRE(first == 1);   /* the hand-built messages above assume it */
}

T_MAIN(T_CASE(check_little_endian),
       T_CASE(test_example_a_aci),
       T_CASE(test_example_b_empty_root),
       T_CASE(test_example_c_file),
       T_CASE(test_all_kinds_layout),
       T_CASE(test_multisegment_aci),
       T_CASE(test_multisegment_dir),
       T_CASE(test_small_sections),
       T_CASE(test_roundtrip_10000),
       T_CASE(test_hostile_framing),
       T_CASE(test_hostile_pointers),
       T_CASE(test_hostile_lists),
       T_CASE(test_hostile_inodes),
       T_CASE(test_traversal_limit),
       T_CASE(test_nesting_limit),
       T_CASE(test_random_mutations))
