/* capn.h - a small generic Cap'n Proto codec: reader and builder.
 *
 * Only what the flist schema needs (FLIST-FORMAT.md §4): structs, lists of
 * bytes (Text, Data) and composite lists (lists of structs), in the standard
 * unpacked serialization with a segment table (§4.3).
 *
 * Reader: accepts any valid message (several segments, far and double-far
 * pointers, struct sections larger or smaller than the caller expects) and is
 * safe on hostile input: every object is bounds-checked against its segment,
 * the segment count is limited (CAPN_MAX_SEGMENTS), the segments the table
 * announces must be present (bytes after them are ignored, like standard
 * readers do), the total number of words a decoder may
 * visit is limited (CAPN_TRAVERSAL_FACTOR x the message size, so repeated
 * pointers to one big object cannot amplify work or memory), and nesting is
 * limited (CAPN_MAX_DEPTH). The reader never copies the buffer and never
 * needs it aligned; the buffer must outlive the reader and its structs.
 *
 * Builder: writes one single segment of any size (up to the 4 GiB that a
 * 30-bit word offset can span), objects laid out in allocation order, so a
 * caller controls the exact byte layout. Errors are sticky: after the first
 * failure every call is a no-op and capn_builder_finish reports it.
 *
 * Errors are written as "capnp: ..." into the caller's hub_err.
 */
#ifndef CAPN_H
#define CAPN_H

#include <stddef.h>
#include <stdint.h>

#include "hub_err.h"

#define CAPN_MAX_SEGMENTS 512u
#define CAPN_MAX_DEPTH 64u
#define CAPN_TRAVERSAL_FACTOR 8u
#define CAPN_TRAVERSAL_MIN 1024u      /* words, for tiny messages */
#define CAPN_MAX_LIST 0x1FFFFFFFu     /* 29-bit element / word counts */

/* List element size codes of the wire format. */
enum {
    CAPN_SZ_VOID = 0,
    CAPN_SZ_BIT = 1,
    CAPN_SZ_BYTE = 2,
    CAPN_SZ_2 = 3,
    CAPN_SZ_4 = 4,
    CAPN_SZ_8 = 5,
    CAPN_SZ_PTR = 6,
    CAPN_SZ_COMPOSITE = 7,
};

/* ---------------------------------------------------------------- reader */

typedef struct capn_seg {
    const uint8_t *data;
    uint32_t words;
} capn_seg;

typedef struct capn_reader {
    capn_seg segs[CAPN_MAX_SEGMENTS];
    uint32_t nsegs;
    uint64_t traversal_left;   /* words the decoder may still visit */
} capn_reader;

/* A struct inside a message. A null pointer reads as a struct with empty
 * sections (every field at its default). */
typedef struct capn_struct {
    capn_reader *r;
    uint32_t seg;
    uint32_t data_off;    /* word index of the data section in its segment */
    uint16_t data_words;
    uint16_t ptr_count;   /* pointers follow the data section */
    unsigned depth;
} capn_struct;

/* A list inside a message (a null pointer reads as an empty list). */
typedef struct capn_list {
    capn_reader *r;
    uint32_t seg;
    uint32_t off;         /* word index of element 0 (after the tag) */
    uint32_t count;       /* elements */
    uint8_t elem_size;    /* CAPN_SZ_* */
    uint16_t data_words;  /* composite lists: per element */
    uint16_t ptr_count;
    unsigned depth;
} capn_list;

/* Parses the segment table of buf (len bytes). Does not copy buf, which
 * must stay valid while r is used. Returns 0, or -1 with err set
 * (truncated header or segments, too many segments, empty segment 0). */
int capn_reader_init(capn_reader *r, const void *buf, size_t len, hub_err *err);

/* The root struct (the pointer at word 0 of segment 0). Returns 0 / -1. */
int capn_root(capn_reader *r, capn_struct *out, hub_err *err);

/* Follows pointer idx of s, which must be null or point to a struct.
 * Missing pointers (idx >= ptr_count) and null read as the default struct.
 * Returns 0, or -1 with err set (bounds, wrong kind, limits). */
int capn_get_struct(const capn_struct *s, unsigned idx, capn_struct *out, hub_err *err);

/* Follows pointer idx of s, which must be null or a composite list (list of
 * structs); any other element size is refused. Returns 0 / -1. */
int capn_get_struct_list(const capn_struct *s, unsigned idx, capn_list *out, hub_err *err);

/* Element i (< list->count) of a composite list. Returns 0 / -1. */
int capn_list_struct(const capn_list *list, uint32_t i, capn_struct *out, hub_err *err);

/* Follows pointer idx of s, which must be null or a byte list (Data).
 * *bytes points into the message (NULL when null), *len is its length.
 * Returns 0 / -1. */
int capn_get_data(const capn_struct *s, unsigned idx, const uint8_t **bytes,
                  size_t *len, hub_err *err);

/* Follows pointer idx of s, which must be null or a Text: a byte list that
 * ends with a NUL and holds no other NUL. *out is a malloc'ed copy the caller
 * frees; a null pointer gives "" (never NULL). Returns 0 / -1. */
int capn_get_text(const capn_struct *s, unsigned idx, char **out, hub_err *err);

/* Counts `words` more words against the traversal limit, for decoders that
 * build a bigger in-memory object per element than the wire form holds (a
 * list of empty structs costs no words but each element becomes a model
 * struct). Returns 0, or -1 with err set when the limit is exceeded. */
int capn_charge(capn_reader *r, uint64_t words, hub_err *err);

/* Little-endian fields of the data section at byte offset off. A field that
 * lies beyond the struct's data section reads as 0 (the default). */
uint16_t capn_read_u16(const capn_struct *s, size_t off);
uint32_t capn_read_u32(const capn_struct *s, size_t off);
uint64_t capn_read_u64(const capn_struct *s, size_t off);

/* --------------------------------------------------------------- builder */

typedef struct capn_builder {
    uint8_t *buf;     /* 8-byte segment table, then the segment */
    size_t words;     /* words used in the segment */
    size_t cap;       /* words allocated for the segment */
    int failed;
    hub_err err;      /* first error */
} capn_builder;

/* Starts an empty message. Cannot fail (allocation happens later). */
void capn_builder_init(capn_builder *b);

/* Releases the builder's buffer (after a failure, or instead of finish). */
void capn_builder_free(capn_builder *b);

/* Allocates n zeroed words at the end of the segment and returns the word
 * index of the first one (0 after a failure, which is sticky). */
size_t capn_alloc(capn_builder *b, size_t n);

/* Writes at word `at` a struct pointer to the struct at word `target`. */
void capn_set_struct_ptr(capn_builder *b, size_t at, size_t target,
                         uint16_t data_words, uint16_t ptr_count);

/* Writes at word `at` a list pointer to word `target`: elem_size is a
 * CAPN_SZ_* code, count the element count (the word count for composite
 * lists, whose target is the tag word). */
void capn_set_list_ptr(capn_builder *b, size_t at, size_t target,
                       unsigned elem_size, size_t count);

/* As `at` below: allocate the object without pointing anything at it yet
 * (for layouts where the object comes before the struct holding its
 * pointer); point at it later with capn_set_*_ptr. */
#define CAPN_ORPHAN SIZE_MAX

/* Allocates a struct and points pointer word `at` to it. Returns the word
 * index of its data section; its pointers follow at + data_words. */
size_t capn_new_struct(capn_builder *b, size_t at, uint16_t data_words,
                       uint16_t ptr_count);

/* Allocates a composite list of n structs (tag word + n elements), points
 * pointer word `at` to it, and returns the word index of the TAG; element i
 * starts at tag + 1 + i * (data_words + ptr_count). */
size_t capn_new_struct_list(capn_builder *b, size_t at, size_t n,
                            uint16_t data_words, uint16_t ptr_count);

/* Points word `at` to the composite list whose tag is at word `tag`. */
void capn_set_struct_list_ptr(capn_builder *b, size_t at, size_t tag, size_t n,
                              uint16_t data_words, uint16_t ptr_count);

/* Allocates a byte list holding the len bytes, points word `at` to it and
 * returns its word index. len 0 allocates nothing and leaves the pointer
 * null (returns 0). */
size_t capn_new_data(capn_builder *b, size_t at, const void *bytes, size_t len);

/* Allocates a Text (bytes + NUL) and points word `at` to it; NULL is
 * written as "" (a 1-byte list holding the NUL). */
void capn_new_text(capn_builder *b, size_t at, const char *s);

/* Little-endian stores into the data section that starts at word `data`. */
void capn_write_u16(capn_builder *b, size_t data, size_t off, uint16_t v);
void capn_write_u32(capn_builder *b, size_t data, size_t off, uint32_t v);
void capn_write_u64(capn_builder *b, size_t data, size_t off, uint64_t v);

/* Ends the message: writes the segment table and hands the buffer to the
 * caller (*out, *outlen bytes; caller frees). On an earlier failure returns
 * -1 with that error in err and frees the buffer. The builder is empty
 * afterwards either way. */
int capn_builder_finish(capn_builder *b, uint8_t **out, size_t *outlen, hub_err *err);

#endif
