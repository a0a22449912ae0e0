/* oci_ref.h - container image references, parsed and normalised as Docker
 * does (distribution/reference's grammar; docs/OCI-NOTES.md §2):
 *
 *   ubuntu                      docker.io/library/ubuntu:latest
 *   user/app:1.0                docker.io/user/app:1.0
 *   localhost:5000/x@sha256:..  localhost:5000/x@sha256:.. (digest wins)
 *   index.docker.io/x           docker.io/library/x:latest
 *
 * The first component is a registry host only when it holds '.' or ':' or
 * is "localhost" (or has upper case letters, which a repository may not).
 * Also the flist name the original hub gives a converted image (HUB-API.md
 * §13.4 step 8).
 */
#ifndef ENGINE_OCI_REF_H
#define ENGINE_OCI_REF_H

#include <stddef.h>

#include "hub_err.h"
#include "oci.h"

#define OCI_REF_NAME_MAX 255    /* domain + "/" + path, as Docker bounds it */
#define OCI_REF_TAG_MAX 128
#define OCI_REF_DEFAULT_DOMAIN "docker.io"
#define OCI_REF_DEFAULT_TAG "latest"

typedef struct oci_ref {
    char domain[OCI_REF_NAME_MAX + 1];  /* "docker.io", "localhost:5000", "[::1]:5000" */
    char path[OCI_REF_NAME_MAX + 1];    /* "library/ubuntu" */
    char tag[OCI_REF_TAG_MAX + 1];      /* "latest" when none was given (and no digest) */
    char digest[OCI_DIGEST_MAX];        /* "sha256:<64 hex>" or "" */
} oci_ref;

/* Parses and normalises `s`. Returns 0, or -1 with err (HUB_E_INVALID)
 * saying what is wrong: "invalid reference format: repository name must
 * be lowercase", a bad tag, a bad digest, a name over 255 bytes... */
int oci_ref_parse(const char *s, oci_ref *out, hub_err *err);

/* The normalised reference, "domain/path:tag", "domain/path@digest" or
 * "domain/path:tag@digest", into buf (truncated to n). Returns buf. */
char *oci_ref_string(const oci_ref *r, char *buf, size_t n);

/* What a manifest request names: the digest when there is one, else the
 * tag. Borrowed from r. */
const char *oci_ref_object(const oci_ref *r);

/* The host (and port) the Distribution API of r's registry answers on:
 * "registry-1.docker.io" for docker.io, else the domain. Borrowed. */
const char *oci_ref_api_host(const oci_ref *r);

/* 1 when `domain` (host[:port]) is "localhost", an address of 127.0.0.0/8
 * or [::1]: a registry Docker lets speak plain HTTP. */
int oci_ref_domain_is_local(const char *domain);

/* 1 when s is "sha256:" followed by 64 lower-case hex digits. */
int oci_digest_valid(const char *s);

/* The original hub's flist name for an image reference as given: ":latest"
 * appended when it holds no ':', then every ':' and '/' replaced by '-',
 * then ".flist" ("ubuntu" -> "ubuntu-latest.flist", "ghcr.io/org/img:v1"
 * -> "ghcr.io-org-img-v1.flist"). Returns 0, or -1 with err when it does
 * not fit `cap`. */
int oci_flist_name(const char *image, char *out, size_t cap, hub_err *err);

#endif
