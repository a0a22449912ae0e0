/* flist_model.c - releasing the in-memory flist rows of flist_model.h. */
#include "flist_model.h"

#include <stdlib.h>
#include <string.h>

void flist_inode_clear(flist_inode *ino)
{
    if (!ino)
        return;
    free(ino->name);
    free(ino->aclkey);
    free(ino->dirkey);
    free(ino->blocks);
    free(ino->target);
    free(ino->special_data);
    memset(ino, 0, sizeof *ino);
}

void flist_dir_free(flist_dir *dir)
{
    if (!dir)
        return;
    for (size_t i = 0; i < dir->nentries; i++)
        flist_inode_clear(&dir->entries[i]);
    free(dir->entries);
    free(dir->name);
    free(dir->location);
    free(dir->parent);
    free(dir->aclkey);
    free(dir);
}

void flist_acl_clear(flist_acl *acl)
{
    if (!acl)
        return;
    free(acl->uname);
    free(acl->gname);
    memset(acl, 0, sizeof *acl);
}
