/* flist_schema.c - Dir and ACI messages <-> the structs of flist_model.h
 * (see flist_schema.h; wire layouts FLIST-FORMAT.md §4.2, byte order of the
 * objects §4.5, so that our output is byte-identical to zflist's for
 * single-segment messages).
 *
 * Decoding rules beyond the plain layout:
 *  - every Text field of the decoded structs is a malloc'ed string, never
 *    NULL: a null Text pointer reads as "". Union members other than the
 *    one the Inode's discriminant selects stay NULL (dirkey, target, ...).
 *  - FileBlock.hash and .key must be exactly 16 bytes.
 *  - a Special.type beyond the enum reads as FLIST_SPECIAL_UNKNOWN; a null
 *    or empty Special.data gives special_data NULL, special_len 0.
 *  - an unknown Inode discriminant is an error (the model cannot hold it).
 * Errors name the field: "Dir.contents[3].file.blocks[0].hash: capnp: ...".
 */
#include "flist_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capn.h"

/* Section sizes (words / pointers) and field offsets of §4.2. */
enum {
    DIR_DW = 2, DIR_PC = 5,
    DIR_P_NAME = 0, DIR_P_LOCATION = 1, DIR_P_CONTENTS = 2, DIR_P_PARENT = 3, DIR_P_ACLKEY = 4,
    DIR_O_SIZE = 0, DIR_O_MTIME = 8, DIR_O_CTIME = 12,

    INODE_DW = 3, INODE_PC = 3,
    INODE_P_NAME = 0, INODE_P_ATTR = 1, INODE_P_ACLKEY = 2,
    INODE_O_SIZE = 0, INODE_O_TYPE = 8, INODE_O_MTIME = 12, INODE_O_CTIME = 16,

    SUBDIR_DW = 0, SUBDIR_PC = 1,
    FILE_DW = 1, FILE_PC = 1, FILE_O_BLOCKSIZE = 0,
    BLOCK_DW = 0, BLOCK_PC = 2, BLOCK_P_HASH = 0, BLOCK_P_KEY = 1,
    LINK_DW = 0, LINK_PC = 1,
    SPECIAL_DW = 1, SPECIAL_PC = 1, SPECIAL_O_TYPE = 0,

    ACI_DW = 3, ACI_PC = 3,
    ACI_P_UNAME = 0, ACI_P_GNAME = 1,
    ACI_O_MODE = 0, ACI_O_ID = 4, ACI_O_UID = 8, ACI_O_GID = 16,
};

/* uid/gid default to -1: stored XORed with the default (§4.2). */
#define ACI_ID_XOR UINT64_MAX

/* ----------------------------------------------------------------- decode */

static int decode_hash(const capn_struct *blk, unsigned ptr, uint8_t out[16],
                       const char *what, hub_err *err)
{
    const uint8_t *b;
    size_t n;
    if (capn_get_data(blk, ptr, &b, &n, err))
        return -1;
    if (n != 16)
        return hub_err_set(err, "capnp: FileBlock.%s is %zu bytes, expected 16", what, n);
    memcpy(out, b, 16);
    return 0;
}

static int decode_file(const capn_struct *attr, flist_inode *ino, char *field, size_t fsz,
                       hub_err *err)
{
    capn_struct f;
    capn_list l;
    snprintf(field, fsz, "file");
    if (capn_get_struct(attr, INODE_P_ATTR, &f, err))
        return -1;
    ino->block_size = capn_read_u16(&f, FILE_O_BLOCKSIZE);
    snprintf(field, fsz, "file.blocks");
    if (capn_get_struct_list(&f, 0, &l, err))
        return -1;
    if (l.count == 0)
        return 0;
    if (l.ptr_count <= BLOCK_P_KEY)
        return hub_err_set(err, "capnp: FileBlock has %u pointers, hash and key need 2",
                           l.ptr_count);
    if (capn_charge(l.r, (uint64_t)l.count * (BLOCK_DW + BLOCK_PC), err))
        return -1;
    ino->blocks = calloc(l.count, sizeof *ino->blocks);
    if (!ino->blocks)
        return hub_err_set(err, "out of memory (%u blocks)", l.count);
    ino->nblocks = l.count;
    for (uint32_t i = 0; i < l.count; i++) {
        capn_struct blk;
        snprintf(field, fsz, "file.blocks[%u]", i);
        if (capn_list_struct(&l, i, &blk, err) ||
            decode_hash(&blk, BLOCK_P_HASH, ino->blocks[i].id, "hash", err) ||
            decode_hash(&blk, BLOCK_P_KEY, ino->blocks[i].key, "key", err))
            return -1;
    }
    return 0;
}

static int decode_special(const capn_struct *attr, flist_inode *ino, hub_err *err)
{
    capn_struct sp;
    const uint8_t *b;
    size_t n;
    if (capn_get_struct(attr, INODE_P_ATTR, &sp, err))
        return -1;
    uint16_t t = capn_read_u16(&sp, SPECIAL_O_TYPE);
    ino->special = t <= FLIST_SPECIAL_UNKNOWN ? (flist_special_type)t : FLIST_SPECIAL_UNKNOWN;
    if (capn_get_data(&sp, 0, &b, &n, err))
        return -1;
    if (n) {
        ino->special_data = malloc(n);
        if (!ino->special_data)
            return hub_err_set(err, "out of memory");
        memcpy(ino->special_data, b, n);
        ino->special_len = n;
    }
    return 0;
}

/* The text at pointer 0 of the struct at pointer INODE_P_ATTR of s. */
static int decode_attr_text(const capn_struct *s, char **out, hub_err *err)
{
    capn_struct sub;
    if (capn_get_struct(s, INODE_P_ATTR, &sub, err))
        return -1;
    return capn_get_text(&sub, 0, out, err);
}

static int decode_inode(const capn_list *l, uint32_t i, flist_inode *ino, hub_err *err)
{
    capn_struct s;
    char field[64] = "";
    if (capn_list_struct(l, i, &s, err))
        goto fail;
    snprintf(field, sizeof field, "name");
    if (capn_get_text(&s, INODE_P_NAME, &ino->name, err))
        goto fail;
    snprintf(field, sizeof field, "aclkey");
    if (capn_get_text(&s, INODE_P_ACLKEY, &ino->aclkey, err))
        goto fail;
    ino->size = capn_read_u64(&s, INODE_O_SIZE);
    ino->mtime = capn_read_u32(&s, INODE_O_MTIME);
    ino->ctime = capn_read_u32(&s, INODE_O_CTIME);
    uint16_t type = capn_read_u16(&s, INODE_O_TYPE);
    switch (type) {
    case FLIST_DIR:
        ino->type = FLIST_DIR;
        snprintf(field, sizeof field, "dir.key");
        if (decode_attr_text(&s, &ino->dirkey, err))
            goto fail;
        break;
    case FLIST_FILE:
        ino->type = FLIST_FILE;
        if (decode_file(&s, ino, field, sizeof field, err))
            goto fail;
        break;
    case FLIST_LINK:
        ino->type = FLIST_LINK;
        snprintf(field, sizeof field, "link.target");
        if (decode_attr_text(&s, &ino->target, err))
            goto fail;
        break;
    case FLIST_SPECIAL:
        ino->type = FLIST_SPECIAL;
        snprintf(field, sizeof field, "special");
        if (decode_special(&s, ino, err))
            goto fail;
        break;
    default:
        snprintf(field, sizeof field, "attributes");
        hub_err_set(err, "capnp: unknown Inode type %u", type);
        goto fail;
    }
    return 0;
fail:
    return hub_err_prefix(err, "Dir.contents[%u]%s%s", i, *field ? "." : "", field);
}

int flist_dir_decode(const void *buf, size_t len, flist_dir **out, hub_err *err)
{
    capn_reader *r = malloc(sizeof *r);
    flist_dir *d = calloc(1, sizeof *d);
    capn_struct root;
    capn_list l;
    const char *field = "";
    *out = NULL;
    if (!r || !d) {
        hub_err_set(err, "out of memory");
        goto fail;
    }
    if (capn_reader_init(r, buf, len, err) || capn_root(r, &root, err))
        goto fail_field;
    d->size = capn_read_u64(&root, DIR_O_SIZE);
    d->mtime = capn_read_u32(&root, DIR_O_MTIME);
    d->ctime = capn_read_u32(&root, DIR_O_CTIME);
    if ((field = ".name", capn_get_text(&root, DIR_P_NAME, &d->name, err)) ||
        (field = ".location", capn_get_text(&root, DIR_P_LOCATION, &d->location, err)) ||
        (field = ".parent", capn_get_text(&root, DIR_P_PARENT, &d->parent, err)) ||
        (field = ".aclkey", capn_get_text(&root, DIR_P_ACLKEY, &d->aclkey, err)) ||
        (field = ".contents", capn_get_struct_list(&root, DIR_P_CONTENTS, &l, err)))
        goto fail_field;
    if (l.count) {
        /* each element becomes an flist_inode: charge its schema size so a
         * list of empty structs cannot amplify into gigabytes */
        if (capn_charge(r, (uint64_t)l.count * (INODE_DW + INODE_PC), err))
            goto fail_field;
        d->entries = calloc(l.count, sizeof *d->entries);
        if (!d->entries) {
            hub_err_set(err, "out of memory (%u entries)", l.count);
            goto fail;
        }
        d->nentries = l.count;
        for (uint32_t i = 0; i < l.count; i++)
            if (decode_inode(&l, i, &d->entries[i], err))
                goto fail;
    }
    free(r);
    *out = d;
    return 0;
fail_field:
    hub_err_prefix(err, "Dir%s", field);
    goto fail;
fail:
    free(r);
    flist_dir_free(d);
    return -1;
}

int flist_acl_decode(const void *buf, size_t len, flist_acl *acl, hub_err *err)
{
    capn_reader *r = malloc(sizeof *r);
    capn_struct root;
    const char *field = "";
    memset(acl, 0, sizeof *acl);
    if (!r)
        return hub_err_set(err, "out of memory");
    if (capn_reader_init(r, buf, len, err) || capn_root(r, &root, err) ||
        (field = ".uname", capn_get_text(&root, ACI_P_UNAME, &acl->uname, err)) ||
        (field = ".gname", capn_get_text(&root, ACI_P_GNAME, &acl->gname, err))) {
        hub_err_prefix(err, "ACI%s", field);
        free(r);
        flist_acl_clear(acl);
        return -1;
    }
    acl->mode = capn_read_u16(&root, ACI_O_MODE);
    acl->id = capn_read_u32(&root, ACI_O_ID);
    acl->uid = (int64_t)(capn_read_u64(&root, ACI_O_UID) ^ ACI_ID_XOR);
    acl->gid = (int64_t)(capn_read_u64(&root, ACI_O_GID) ^ ACI_ID_XOR);
    free(r);
    return 0;
}

/* ----------------------------------------------------------------- encode */

static int check_inode(const flist_inode *ino, size_t i, hub_err *err)
{
    switch (ino->type) {
    case FLIST_DIR:
    case FLIST_LINK:
        return 0;
    case FLIST_FILE:
        if (ino->nblocks && !ino->blocks)
            return hub_err_set(err, "encode Dir: entry %zu has %zu blocks but no block array",
                               i, ino->nblocks);
        return 0;
    case FLIST_SPECIAL:
        if (ino->special_len && !ino->special_data)
            return hub_err_set(err, "encode Dir: entry %zu has %zu bytes of special data but "
                               "no buffer", i, ino->special_len);
        return 0;
    }
    return hub_err_set(err, "encode Dir: entry %zu has unknown type %d", i, (int)ino->type);
}

/* The type-specific objects of an inode whose pointer section starts at
 * word ptrs, in the order of §4.5 step 3. */
static void encode_attr(capn_builder *b, size_t ptrs, const flist_inode *ino)
{
    size_t at = ptrs + INODE_P_ATTR, s, data, tag = 0;
    switch (ino->type) {
    case FLIST_DIR:
        s = capn_new_struct(b, at, SUBDIR_DW, SUBDIR_PC);
        capn_new_text(b, s + SUBDIR_DW, ino->dirkey);
        break;
    case FLIST_LINK:
        s = capn_new_struct(b, at, LINK_DW, LINK_PC);
        capn_new_text(b, s + LINK_DW, ino->target);
        break;
    case FLIST_SPECIAL:
        /* the data bytes first, then the struct that points back at them */
        data = capn_new_data(b, CAPN_ORPHAN, ino->special_data, ino->special_len);
        s = capn_new_struct(b, at, SPECIAL_DW, SPECIAL_PC);
        capn_write_u16(b, s, SPECIAL_O_TYPE, (uint16_t)ino->special);
        if (ino->special_len)
            capn_set_list_ptr(b, s + SPECIAL_DW, data, CAPN_SZ_BYTE, ino->special_len);
        break;
    case FLIST_FILE:
        /* the blocks list, each block's hash and key, then the File struct;
         * no blocks: a null pointer, like libflist */
        if (ino->nblocks) {
            tag = capn_new_struct_list(b, CAPN_ORPHAN, ino->nblocks, BLOCK_DW, BLOCK_PC);
            for (size_t i = 0; i < ino->nblocks && !b->failed; i++) {
                size_t bp = tag + 1 + i * (BLOCK_DW + BLOCK_PC) + BLOCK_DW;
                capn_new_data(b, bp + BLOCK_P_HASH, ino->blocks[i].id, 16);
                capn_new_data(b, bp + BLOCK_P_KEY, ino->blocks[i].key, 16);
            }
        }
        s = capn_new_struct(b, at, FILE_DW, FILE_PC);
        capn_write_u16(b, s, FILE_O_BLOCKSIZE, ino->block_size);
        if (ino->nblocks)
            capn_set_struct_list_ptr(b, s + FILE_DW, tag, ino->nblocks, BLOCK_DW, BLOCK_PC);
        break;
    }
}

int flist_dir_encode(const flist_dir *dir, uint8_t **out, size_t *outlen, hub_err *err)
{
    capn_builder b;
    *out = NULL;
    *outlen = 0;
    if (dir->nentries && !dir->entries)
        return hub_err_set(err, "encode Dir: %zu entries but no entry array", dir->nentries);
    for (size_t i = 0; i < dir->nentries; i++)
        if (check_inode(&dir->entries[i], i, err))
            return -1;

    capn_builder_init(&b);
    size_t root = capn_alloc(&b, 1);
    size_t tag = capn_new_struct_list(&b, CAPN_ORPHAN, dir->nentries, INODE_DW, INODE_PC);
    for (size_t i = 0; i < dir->nentries && !b.failed; i++) {
        const flist_inode *ino = &dir->entries[i];
        size_t data = tag + 1 + i * (INODE_DW + INODE_PC), ptrs = data + INODE_DW;
        capn_write_u64(&b, data, INODE_O_SIZE, ino->size);
        capn_write_u16(&b, data, INODE_O_TYPE, (uint16_t)ino->type);
        capn_write_u32(&b, data, INODE_O_MTIME, ino->mtime);
        capn_write_u32(&b, data, INODE_O_CTIME, ino->ctime);
        encode_attr(&b, ptrs, ino);
        capn_new_text(&b, ptrs + INODE_P_NAME, ino->name);
        capn_new_text(&b, ptrs + INODE_P_ACLKEY, ino->aclkey);
    }
    size_t d = capn_new_struct(&b, root, DIR_DW, DIR_PC), p = d + DIR_DW;
    capn_write_u64(&b, d, DIR_O_SIZE, dir->size);
    capn_write_u32(&b, d, DIR_O_MTIME, dir->mtime);
    capn_write_u32(&b, d, DIR_O_CTIME, dir->ctime);
    capn_set_struct_list_ptr(&b, p + DIR_P_CONTENTS, tag, dir->nentries, INODE_DW, INODE_PC);
    capn_new_text(&b, p + DIR_P_NAME, dir->name);
    capn_new_text(&b, p + DIR_P_LOCATION, dir->location);
    capn_new_text(&b, p + DIR_P_PARENT, dir->parent);
    capn_new_text(&b, p + DIR_P_ACLKEY, dir->aclkey);
    if (capn_builder_finish(&b, out, outlen, err))
        return hub_err_prefix(err, "encode Dir");
    return 0;
}

int flist_acl_encode(const flist_acl *acl, uint8_t **out, size_t *outlen, hub_err *err)
{
    capn_builder b;
    capn_builder_init(&b);
    size_t root = capn_alloc(&b, 1);
    size_t s = capn_new_struct(&b, root, ACI_DW, ACI_PC), p = s + ACI_DW;
    capn_write_u16(&b, s, ACI_O_MODE, acl->mode);
    capn_write_u32(&b, s, ACI_O_ID, acl->id);
    capn_write_u64(&b, s, ACI_O_UID, (uint64_t)acl->uid ^ ACI_ID_XOR);
    capn_write_u64(&b, s, ACI_O_GID, (uint64_t)acl->gid ^ ACI_ID_XOR);
    capn_new_text(&b, p + ACI_P_UNAME, acl->uname);
    capn_new_text(&b, p + ACI_P_GNAME, acl->gname);
    /* rights (pointer 2) stays null, like libflist */
    if (capn_builder_finish(&b, out, outlen, err))
        return hub_err_prefix(err, "encode ACI");
    return 0;
}
