# flist.capnp - the Cap'n Proto schema of the rows of an flist database
# (0-flist v2), written from the wire layouts of FLIST-FORMAT.md §4.2.
#
# It documents the wire format; proto/flist_schema.c implements it by hand
# (no code is generated from this file). Layout notes, as computed by the
# standard capnp rules, are given per field: "ptrN" is pointer N of the
# struct's pointer section, "bytes a-b" are byte offsets in its data section
# (little-endian).
#
# Table rows: a directory row (key = hex BLAKE2b-128 of the path) holds a
# message whose root is Dir; an ACL row (key = hex BLAKE2b-64 of the ACI
# string, §3.2) holds a message whose root is ACI. Messages are unpacked,
# with the segment table (§4.3).

@0xae9223e76351538a;

struct FileBlock {                # 0 data words, 2 pointers
  hash @0 :Data;                  # ptr0: 16 bytes, backend key (BLAKE2b-128 of the ciphertext)
  key @1 :Data;                   # ptr1: 16 bytes, decryption key (BLAKE2b-128 of the plaintext)
}

struct File {                     # 1 data word, 1 pointer
  blockSize @0 :UInt16;           # bytes 0-1: always 128 (x 4 KiB)
  blocks @1 :List(FileBlock);     # ptr0: null for an empty file
}

struct Link {                     # 0 data words, 1 pointer
  target @0 :Text;                # ptr0: readlink() bytes, unchanged
}

struct Special {                  # 1 data word, 1 pointer
  type @0 :Type;                  # bytes 0-1 (zflist always writes socket, quirk Q2)
  data @1 :Data;                  # ptr0: "<major>,<minor>" or "(nothing)", no terminator

  enum Type {
    socket @0;
    block @1;
    chardev @2;
    fifopipe @3;
    unknown @4;
  }
}

struct SubDir {                   # 0 data words, 1 pointer
  key @0 :Text;                   # ptr0: key of the child directory's Dir row
}

struct Inode {                    # 3 data words, 3 pointers
  name @0 :Text;                  # ptr0
  size @1 :UInt64;                # bytes 0-7
  attributes :union {             # discriminant: bytes 8-9 (0 dir, 1 file, 2 link, 3 special)
    dir @2 :SubDir;               # ptr1 (all four members share it)
    file @3 :File;                # ptr1
    link @4 :Link;                # ptr1
    special @5 :Special;          # ptr1
  }
  aclkey @6 :Text;                # ptr2: key of the ACI row
  modificationTime @7 :UInt32;    # bytes 12-15
  creationTime @8 :UInt32;        # bytes 16-19 (st_ctime: inode change time)
}

struct Dir {                      # 2 data words, 5 pointers
  name @0 :Text;                  # ptr0: last path component, "" for the root
  location @1 :Text;              # ptr1: path relative to the root, "" for the root
  contents @2 :List(Inode);       # ptr2: a 0-element list (not null) when empty
  parent @3 :Text;                # ptr3: key of the parent (the root's own key for the root)
  size @4 :UInt64;                # bytes 0-7: always 4096
  aclkey @5 :Text;                # ptr4
  modificationTime @6 :UInt32;    # bytes 8-11
  creationTime @7 :UInt32;        # bytes 12-15
}

# UserGroup (1 data word, 2 pointers) is declared by the original schema but
# never used in any row; it is left out here.

struct ACI {                      # 3 data words, 3 pointers
  uname @0 :Text;                 # ptr0
  gname @1 :Text;                 # ptr1
  mode @2 :UInt16;                # bytes 0-1: st_mode & ~S_IFMT (legacy rows: full st_mode)
  rights @3 :List(Right);         # ptr2: always null
  id @4 :UInt32;                  # bytes 4-7: always 0
  uid @5 :Int64 = -1;             # bytes 8-15, stored XOR -1 (~uid): absent reads -1
  gid @6 :Int64 = -1;             # bytes 16-23, stored XOR -1

  struct Right {                  # 1 data word, 1 pointer
    right @0 :Text;               # ptr0
    usergroupid @1 :UInt16;       # bytes 0-1
  }
}
