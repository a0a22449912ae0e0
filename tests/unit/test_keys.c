/* test_keys.c - directory keys, ACI keys and hex helpers against the
 * verified vectors of FLIST-FORMAT.md §3.1 / §3.2 (plus a few computed with
 * Python's hashlib.blake2b(digest_size=N), an independent BLAKE2b). */
#include "flist_keys.h"
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_path_keys(void)
{
    static const struct { const char *path, *key; } v[] = {
        { "", FLIST_ROOT_KEY },
        { "sub", "73d580a1148567000871c163ef0e1ea3" },
        { "sub/deeper", "467447a4c60910378a8824c7337440b0" },
        { "emptydir", "67922420e09bde706a952941f273094e" },
        { "opt", "42674ea00e842b318f81deaab4e630b4" },
        { "opt/bin", "3cf8ea38b1a33bba5e4c973140767615" },
        { "a/h\xc3\xa9llo w\xc3\xb6rld", "2cb61a96c3a783cd9b5a21ac7778580c" },
    };
    char out[FLIST_DIRKEY_LEN + 1];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        memset(out, 'x', sizeof out);
        flist_path_key(v[i].path, out);
        T_STREQ(out, v[i].key);
    }
    flist_path_key(NULL, out);
    T_STREQ(out, FLIST_ROOT_KEY);
}

static void acl_key(const char *u, const char *g, uint16_t mode, int64_t uid, int64_t gid,
                    char out[FLIST_ACLKEY_LEN + 1])
{
    flist_acl a = { .uname = (char *)u, .gname = (char *)g, .mode = mode, .uid = uid, .gid = gid };
    memset(out, 'x', FLIST_ACLKEY_LEN + 1);
    flist_acl_key(&a, out);
}

static void test_acl_keys(void)
{
    char out[FLIST_ACLKEY_LEN + 1];
    acl_key("root", "root", 0755, 0, 0, out);
    T_STREQ(out, "d7683de000c13689");
    acl_key("root", "root", 0644, 0, 0, out);
    T_STREQ(out, "5f64cf1389d15471");
    acl_key("root", "root", 0777, 0, 0, out);
    T_STREQ(out, "73e6e9d75d19d7da");
    acl_key("root", "root", 0600, 0, 0, out);
    T_STREQ(out, "a97b105fb69c21f0");
    acl_key("root", "root", 0700, 0, 0, out);
    T_STREQ(out, "786b0e05a2fa8939");
    acl_key("1234", "5678", 04755, 1234, 5678, out);
    T_STREQ(out, "7be53aa9ef0fd39a");
    /* hashlib vectors: legacy mode with type bits and uid/gid -1 */
    acl_key("", "", (uint16_t)0100644, -1, -1, out);
    T_STREQ(out, "05dd8cf799a61360");
    /* NULL names hash like "" */
    acl_key(NULL, NULL, (uint16_t)0100644, -1, -1, out);
    T_STREQ(out, "05dd8cf799a61360");
    /* long name (longer than any fixed buffer), UTF-8, 64-bit ids */
    char longname[301];
    memset(longname, 'u', 300);
    longname[300] = 0;
    acl_key(longname, "h\xc3\xa9llo", 07777, 4294967296LL, -2, out);
    T_STREQ(out, "9c62aadce59d8a3b");
}

static void test_hex(void)
{
    const uint8_t bytes[5] = { 0x00, 0x0f, 0xa5, 0xff, 0x10 };
    char hex[11];
    uint8_t back[5];
    hub_hex(bytes, 5, hex);
    T_STREQ(hex, "000fa5ff10");
    T_CHECK(hub_unhex(hex, back, 5) == 0);
    T_CHECK(memcmp(back, bytes, 5) == 0);
    T_CHECK(hub_unhex("000FA5FF10", back, 5) == 0);
    T_CHECK(memcmp(back, bytes, 5) == 0);
    hub_hex(bytes, 0, hex);
    T_STREQ(hex, "");

    /* bad characters anywhere, and strings shorter than 2n (stops at the NUL) */
    T_CHECK(hub_unhex("000fa5ff1g", back, 5) == -1);
    T_CHECK(hub_unhex("g00fa5ff10", back, 5) == -1);
    T_CHECK(hub_unhex("0 0fa5ff10", back, 5) == -1);
    char *shortstr = malloc(3);   /* exact size, so ASan sees any over-read */
    memcpy(shortstr, "ab", 3);
    T_CHECK(hub_unhex(shortstr, back, 5) == -1);
    T_CHECK(hub_unhex(shortstr, back, 1) == 0 && back[0] == 0xab);
    free(shortstr);
    char *odd = malloc(4);
    memcpy(odd, "abc", 4);
    T_CHECK(hub_unhex(odd, back, 2) == -1);
    free(odd);
}

T_MAIN(T_CASE(test_path_keys), T_CASE(test_acl_keys), T_CASE(test_hex))
