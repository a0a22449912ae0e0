/* test_oci_ref.c - image references parsed and normalised as Docker does
 * (engine/oci_ref.h), and refused with a clear message when invalid. */
#include "t.h"

#include "oci_ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Parses `in` and checks its normalised form. */
static void norm(const char *in, const char *want_domain, const char *want_path,
                 const char *want_tag, const char *want_digest, const char *want_full)
{
    oci_ref r;
    hub_err err = {0};
    int rc = oci_ref_parse(in, &r, &err);
    if (rc != 0)
        fprintf(stderr, "parse %s: %s\n", in, err.msg);
    T_REQUIRE(rc == 0);
    T_STREQ(r.domain, want_domain);
    T_STREQ(r.path, want_path);
    T_STREQ(r.tag, want_tag);
    T_STREQ(r.digest, want_digest);
    char buf[600];
    T_STREQ(oci_ref_string(&r, buf, sizeof buf), want_full);
}

/* Checks `in` is refused with a message containing `want`. */
static void refused(const char *in, const char *want)
{
    oci_ref r;
    hub_err err = {0};
    T_REQUIRE(oci_ref_parse(in, &r, &err) == -1);
    T_CHECK(err.code == HUB_E_INVALID);
    if (!strstr(err.msg, want))
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", in, err.msg, want);
    T_CHECK(strstr(err.msg, want) != NULL);
}

static void test_docker_hub(void)
{
    norm("ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest");
    norm("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "",
         "docker.io/library/ubuntu:22.04");
    norm("library/nginx", "docker.io", "library/nginx", "latest", "",
         "docker.io/library/nginx:latest");
    norm("user/app:v1.2_3-x", "docker.io", "user/app", "v1.2_3-x", "",
         "docker.io/user/app:v1.2_3-x");
    norm("docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "",
         "docker.io/library/ubuntu:latest");
    norm("index.docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "",
         "docker.io/library/ubuntu:latest");
    norm("index.docker.io/a/b", "docker.io", "a/b", "latest", "", "docker.io/a/b:latest");
    norm("a/b/c/d", "docker.io", "a/b/c/d", "latest", "", "docker.io/a/b/c/d:latest");
    /* "localhost:5000" alone is a repository with tag 5000, as for Docker */
    norm("localhost:5000", "docker.io", "library/localhost", "5000", "",
         "docker.io/library/localhost:5000");
}

static void test_registries(void)
{
    norm("localhost/x", "localhost", "x", "latest", "", "localhost/x:latest");
    norm("localhost:5000/x/y:t", "localhost:5000", "x/y", "t", "", "localhost:5000/x/y:t");
    norm("127.0.0.1:5000/img", "127.0.0.1:5000", "img", "latest", "",
         "127.0.0.1:5000/img:latest");
    norm("ghcr.io/org/img:v1", "ghcr.io", "org/img", "v1", "", "ghcr.io/org/img:v1");
    norm("quay.io/a-b/c.d__e:1", "quay.io", "a-b/c.d__e", "1", "", "quay.io/a-b/c.d__e:1");
    norm("[::1]:5000/x", "[::1]:5000", "x", "latest", "", "[::1]:5000/x:latest");
    norm("Registry.Example/x", "Registry.Example", "x", "latest", "", "Registry.Example/x:latest");
    norm("host:443/x--y", "host:443", "x--y", "latest", "", "host:443/x--y:latest");
}

static void test_digests(void)
{
    norm("ubuntu@sha256:" D64, "docker.io", "library/ubuntu", "", "sha256:" D64,
         "docker.io/library/ubuntu@sha256:" D64);
    norm("ubuntu:22.04@sha256:" D64, "docker.io", "library/ubuntu", "22.04", "sha256:" D64,
         "docker.io/library/ubuntu:22.04@sha256:" D64);
    norm("localhost:5000/x@sha256:" D64, "localhost:5000", "x", "", "sha256:" D64,
         "localhost:5000/x@sha256:" D64);
    oci_ref r;
    T_REQUIRE(oci_ref_parse("x:1@sha256:" D64, &r, NULL) == 0);
    T_STREQ(oci_ref_object(&r), "sha256:" D64);   /* the digest wins */
    T_REQUIRE(oci_ref_parse("x:1", &r, NULL) == 0);
    T_STREQ(oci_ref_object(&r), "1");
}

static void test_refused(void)
{
    refused("", "empty image name");
    refused("Ubuntu", "must be lowercase");
    refused("user/App", "must be lowercase");
    refused("localhost:5000/Img", "must be lowercase");
    refused(D64, "64-byte hexadecimal");
    refused("ubuntu:", "invalid tag");
    refused("ubuntu:-x", "invalid tag");
    refused("ubuntu:a/b", "invalid");
    refused("ubuntu@sha256:abc", "invalid sha256 digest");
    refused("ubuntu@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "invalid sha256 digest");
    refused("ubuntu@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm");
    refused("ubuntu@", "invalid digest");
    refused("-ubuntu", "invalid repository name component");
    refused("ubuntu-", "invalid repository name component");
    refused("a//b", "invalid repository name component");
    refused("a/b/", "invalid repository name component");
    refused("a..b", "invalid repository name component");
    refused("a b", "invalid repository name component");
    refused("host:port/x", "invalid registry host");
    refused("-host.io/x", "invalid registry host");
    refused("host.io/", "missing repository name");
    refused("@sha256:" D64, "missing repository name");
    char longname[400];
    memset(longname, 'a', 300);
    longname[300] = '\0';
    refused(longname, "more than 255");
    char longtag[200] = "x:";
    memset(longtag + 2, 't', 129);
    longtag[131] = '\0';
    refused(longtag, "invalid tag");
}

static void test_api_host_and_local(void)
{
    oci_ref r;
    T_REQUIRE(oci_ref_parse("ubuntu", &r, NULL) == 0);
    T_STREQ(oci_ref_api_host(&r), "registry-1.docker.io");
    T_REQUIRE(oci_ref_parse("localhost:5000/x", &r, NULL) == 0);
    T_STREQ(oci_ref_api_host(&r), "localhost:5000");
    T_CHECK(oci_ref_domain_is_local("localhost"));
    T_CHECK(oci_ref_domain_is_local("localhost:5000"));
    T_CHECK(oci_ref_domain_is_local("127.0.0.1:5000"));
    T_CHECK(oci_ref_domain_is_local("127.9.8.7"));
    T_CHECK(oci_ref_domain_is_local("[::1]:5000"));
    T_CHECK(!oci_ref_domain_is_local("128.0.0.1:5000"));
    T_CHECK(!oci_ref_domain_is_local("127.0.0.1.evil.com"));
    T_CHECK(!oci_ref_domain_is_local("localhost.evil.com"));
    T_CHECK(!oci_ref_domain_is_local("docker.io"));
    T_CHECK(oci_digest_valid("sha256:" D64));
    T_CHECK(!oci_digest_valid("sha256:" D64 "0"));
    T_CHECK(!oci_digest_valid("sha512:" D64));
}

static void test_flist_name(void)
{
    static const char *const cases[][2] = {
        { "ubuntu", "ubuntu-latest.flist" },
        { "ubuntu:22.04", "ubuntu-22.04.flist" },
        { "library/nginx", "library-nginx-latest.flist" },
        { "ghcr.io/org/img:v1", "ghcr.io-org-img-v1.flist" },
        { "localhost:5000/img", "localhost-5000-img.flist" },   /* has a ':' already */
        { "img@sha256:" D64, "img@sha256-" D64 ".flist" },
    };
    char out[600];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        T_REQUIRE(oci_flist_name(cases[i][0], out, sizeof out, NULL) == 0);
        T_STREQ(out, cases[i][1]);
    }
    char small[8];
    hub_err err;
    T_CHECK(oci_flist_name("ubuntu", small, sizeof small, &err) == -1 && err.code == HUB_E_INVALID);
}

T_MAIN(T_CASE(test_flist_name), T_CASE(test_docker_hub), T_CASE(test_registries), T_CASE(test_digests),
       T_CASE(test_refused), T_CASE(test_api_host_and_local))
