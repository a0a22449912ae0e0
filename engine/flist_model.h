/* flist_model.h - the in-memory form of the rows of an flist database.
 *
 * These structs mirror the Cap'n Proto structs of FLIST-FORMAT.md §4 (Dir,
 * Inode with its union, FileBlock, Link, Special, ACI). The codec in
 * proto/flist_schema.c converts between them and the wire form; the reader
 * and the writer of engine/ only ever see these.
 *
 * Ownership: every pointer inside a decoded flist_dir / flist_acl is owned by
 * it and released by flist_dir_free() / flist_acl_clear().
 */
#ifndef FLIST_MODEL_H
#define FLIST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FLIST_CHUNK_SIZE 524288u  /* 512 KiB, FLIST-FORMAT.md §5.1 */
#define FLIST_BLOCK_SIZE 128u     /* File.blockSize: 128 x 4 KiB */
#define FLIST_DIR_SIZE 4096u      /* Dir.size is always 4096 (Q11) */
#define FLIST_ROOT_KEY "cae66941d9efbd404e4d88758ea67670"
#define FLIST_DIRKEY_LEN 32       /* hex chars of a directory key */
#define FLIST_ACLKEY_LEN 16       /* hex chars of an ACI key */

/* Inode.attributes discriminant, in declaration order (§4.2). */
typedef enum flist_type {
    FLIST_DIR = 0,
    FLIST_FILE = 1,
    FLIST_LINK = 2,
    FLIST_SPECIAL = 3,
} flist_type;

/* Special.Type (§4.2). zflist always writes SOCKET (quirk Q2); we write the
 * real type. */
typedef enum flist_special_type {
    FLIST_SPECIAL_SOCKET = 0,
    FLIST_SPECIAL_BLOCK = 1,
    FLIST_SPECIAL_CHARDEV = 2,
    FLIST_SPECIAL_FIFO = 3,
    FLIST_SPECIAL_UNKNOWN = 4,
} flist_special_type;

/* One FileBlock: the backend key (hash of the ciphertext) and the decryption
 * key (hash of the plaintext). Always 16 raw bytes each. */
typedef struct flist_block {
    uint8_t id[16];
    uint8_t key[16];
} flist_block;

/* One Inode: an entry of a directory. */
typedef struct flist_inode {
    char *name;
    uint64_t size;
    flist_type type;
    char *aclkey;
    uint32_t mtime;
    uint32_t ctime;
    /* FLIST_DIR */
    char *dirkey;            /* SubDir.key */
    /* FLIST_FILE */
    uint16_t block_size;     /* File.blockSize */
    size_t nblocks;
    flist_block *blocks;     /* NULL when nblocks == 0 */
    /* FLIST_LINK */
    char *target;
    /* FLIST_SPECIAL */
    flist_special_type special;
    uint8_t *special_data;   /* "maj,min" or "(nothing)"; not NUL-terminated */
    size_t special_len;
} flist_inode;

/* One Dir row. */
typedef struct flist_dir {
    char *name;
    char *location;
    char *parent;
    char *aclkey;
    uint64_t size;
    uint32_t mtime;
    uint32_t ctime;
    size_t nentries;
    flist_inode *entries;
} flist_dir;

/* One ACI row. uid/gid are -1 when the flist does not record them (legacy). */
typedef struct flist_acl {
    char *uname;
    char *gname;
    uint16_t mode;           /* permission bits incl. setuid/setgid/sticky;
                                legacy flists may carry type bits too */
    uint32_t id;
    int64_t uid;
    int64_t gid;
} flist_acl;

/* Frees a directory and everything it owns. NULL is fine. */
void flist_dir_free(flist_dir *dir);

/* Frees the contents of an inode (not the inode itself). */
void flist_inode_clear(flist_inode *ino);

/* Frees the strings of an ACI and zeroes it. */
void flist_acl_clear(flist_acl *acl);

#endif
