/* test_job_msg.c - the api<->worker job contract (proto/job_msg.h): every
 * kind built by the api's function reads back the same with the worker's,
 * the kinds' names, and the refusals of malformed inputs with the
 * original's messages. */
#include <jansson.h>

#include "job_msg.h"
#include "t.h"

static void test_kind_names(void)
{
    const char *names[] = {"upload", "upload-flist", "merge", "docker-convert"};
    for (int k = 0; k < JOBMSG_KIND_COUNT; k++) {
        T_STREQ(jobmsg_kind_name((jobmsg_kind)k), names[k]);
        jobmsg_kind back;
        hub_err err;
        T_CHECK(jobmsg_kind_parse(names[k], &back, &err) == 0 && back == (jobmsg_kind)k);
    }
    T_CHECK(jobmsg_kind_name(JOBMSG_KIND_COUNT) == NULL);
    jobmsg_kind k;
    hub_err err;
    T_CHECK(jobmsg_kind_parse("uploads", &k, &err) == -1 && err.code == HUB_E_INVALID);
    T_STREQ(err.msg, "job type \"uploads\" is not supported by this worker");
    T_CHECK(jobmsg_kind_parse(NULL, &k, &err) == -1);
}

static void test_upload_round_trip(void)
{
    json_t *meta = json_pack("{s:s, s:s}", "author", "Alice", "description", "demo \xc3\xa9");
    jobmsg_upload in = {
        .spool = "upload-1a2b.part", .filename = "my image.tar.gz", .name = "my_image.flist",
        .repository = "alice", .extension = ".tar.gz", .metadata = meta,
    };
    json_t *o = jobmsg_upload_build(JOBMSG_UPLOAD, &in);
    T_REQUIRE(o);
    /* through the wire: Redis holds the dumped text */
    char *text = json_dumps(o, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    jobmsg_upload out;
    hub_err err;
    T_REQUIRE(jobmsg_upload_parse(JOBMSG_UPLOAD, back, "someone-else", &out, &err) == 0);
    T_STREQ(out.spool, in.spool);
    T_STREQ(out.filename, in.filename);
    T_STREQ(out.name, in.name);
    T_STREQ(out.repository, "alice");
    T_STREQ(out.extension, ".tar.gz");
    T_CHECK(json_equal(out.metadata, meta));
    T_STREQ(jobmsg_spool(back), "upload-1a2b.part");
    free(text);
    json_decref(back);
    json_decref(o);

    /* upload-flist carries no extension or metadata */
    o = jobmsg_upload_build(JOBMSG_UPLOAD_FLIST, &in);
    T_REQUIRE(o);
    T_CHECK(json_object_get(o, "metadata") == NULL && json_object_get(o, "extension") == NULL);
    T_REQUIRE(jobmsg_upload_parse(JOBMSG_UPLOAD_FLIST, o, "x", &out, &err) == 0);
    T_STREQ(out.name, "my_image.flist");
    T_CHECK(out.metadata == NULL);
    json_decref(o);
    json_decref(meta);

    /* not UTF-8: no input, the api answers 400 */
    in.filename = "bad\xff.tar.gz";
    T_CHECK(jobmsg_upload_build(JOBMSG_UPLOAD, &in) == NULL);
}

static void test_upload_old_jobs_and_refusals(void)
{
    hub_err err;
    jobmsg_upload out;
    /* jobs queued by older apis: no repository (the user's), a path */
    json_t *old = json_pack("{s:s, s:s}", "file", "/srv/workdir/distfiles/x.part", "name", "a.flist");
    T_REQUIRE(jobmsg_upload_parse(JOBMSG_UPLOAD, old, "bob", &out, &err) == 0);
    T_STREQ(out.repository, "bob");
    T_STREQ(out.spool, "/srv/workdir/distfiles/x.part");
    json_decref(old);

    struct { const char *json; const char *msg; } bad[] = {
        {"[]", "job input is not a JSON object"},
        {"{\"file\": \"x\"}", "job input has no name"},
        {"{\"name\": \"a.flist\"}", "job input has no file"},
        {"{\"name\": \"a.flist\", \"file\": 3}", "job input has no file"},
        {"{\"name\": \"a.flist\", \"file\": \"x\", \"metadata\": []}", "job input: metadata is not an object"},
        {"{\"name\": \"a.flist\", \"file\": \"x\", \"metadata\": {\"k\": 1}}", "job input: metadata k is not a string"},
        {"{\"name\": \"a.flist\", \"file\": \"x\", \"repository\": \"\"}", "job has no repository"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
        T_REQUIRE(v);
        T_CHECK(jobmsg_upload_parse(JOBMSG_UPLOAD, v, "u", &out, &err) == -1);
        T_STREQ(err.msg, bad[i].msg);
        T_CHECK(err.code == HUB_E_INVALID);
        json_decref(v);
    }
}

static void test_merge_round_trip_and_refusals(void)
{
    json_t *src = json_pack("[s, s]", "alice/a.flist", "bob/b.flist");
    jobmsg_merge in = { .sources = src, .name = "both.flist", .repository = "carol" };
    json_t *o = jobmsg_merge_build(&in);
    T_REQUIRE(o);
    jobmsg_merge out;
    hub_err err;
    T_REQUIRE(jobmsg_merge_parse(o, "x", &out, &err) == 0);
    T_CHECK(json_equal(out.sources, src));
    T_STREQ(out.name, "both.flist");
    T_STREQ(out.repository, "carol");
    T_CHECK(jobmsg_spool(o) == NULL);
    json_decref(o);
    json_decref(src);

    struct { const char *json; const char *msg; } bad[] = {
        {"{\"sources\": \"alice/a\", \"name\": \"t\"}", "malformed json request"},
        {"{\"sources\": [], \"name\": \"t\"}", "no source found"},
        {"{\"sources\": [1], \"name\": \"t\"}", "malformed json request"},
        {"{\"sources\": [\"noslash\"], \"name\": \"t\"}", "malformed source filename"},
        {"{\"sources\": [\"a/b\"]}", "missing build (target) name"},
        {"{\"sources\": [\"a/b\"], \"name\": \"\"}", "missing build (target) name"},
        {"{\"sources\": [\"a/b\"], \"name\": \"x/y\"}", "build name not allowed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i].json, 0, NULL);
        T_REQUIRE(v);
        T_CHECK(jobmsg_merge_parse(v, "u", &out, &err) == -1);
        T_STREQ(err.msg, bad[i].msg);
        json_decref(v);
    }
}

static void test_protected_and_spool_names(void)
{
    const char *prot[] = {"readme", "backend", "entrypoint", "environ", "port", "volume"};
    for (size_t i = 0; i < 6; i++)
        T_CHECK(jobmsg_meta_protected(prot[i]));
    T_CHECK(!jobmsg_meta_protected("Readme"));
    T_CHECK(!jobmsg_meta_protected("author"));
    T_CHECK(jobmsg_spool_name_valid("upload-abc.part"));
    T_CHECK(!jobmsg_spool_name_valid(""));
    T_CHECK(!jobmsg_spool_name_valid("."));
    T_CHECK(!jobmsg_spool_name_valid(".."));
    T_CHECK(!jobmsg_spool_name_valid("a/b"));
    T_CHECK(!jobmsg_spool_name_valid("/etc/passwd"));
    T_CHECK(!jobmsg_spool_name_valid(NULL));
}

static void test_docker_round_trip_and_refusals(void)
{
    json_t *creds = json_pack("{ssss}", "ref", "00112233445566778899aabbccddeeff", "box", "AAAA");
    jobmsg_docker in = { .image = "localhost:5000/app:v1", .name = "localhost-5000-app-v1.flist",
                         .repository = "alice", .platform = "linux/arm64", .credentials = creds };
    json_t *o = jobmsg_docker_build(&in);
    T_REQUIRE(o);
    char *text = json_dumps(o, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    jobmsg_docker out;
    hub_err err;
    T_REQUIRE(jobmsg_docker_parse(back, "bob", &out, &err) == 0);
    T_STREQ(out.image, in.image);
    T_STREQ(out.name, in.name);
    T_STREQ(out.repository, "alice");
    T_STREQ(out.platform, "linux/arm64");
    T_CHECK(json_equal(out.credentials, creds));
    T_CHECK(jobmsg_spool(back) == NULL);   /* nothing to clean up */
    free(text);
    json_decref(back);
    json_decref(o);

    in.platform = NULL;
    in.credentials = NULL;
    json_decref(creds);
    o = jobmsg_docker_build(&in);
    T_REQUIRE(o && json_object_get(o, "platform") == NULL);
    T_REQUIRE(jobmsg_docker_parse(o, "bob", &out, &err) == 0);
    T_CHECK(out.platform == NULL && out.credentials == NULL && !out.engine);
    T_CHECK(json_object_get(o, "path") == NULL);   /* the registry path: as older workers read it */
    json_object_set_new(o, "path", json_string("registry"));
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == 0 && !out.engine);
    json_object_set_new(o, "path", json_string("daemon"));
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == -1 && err.code == HUB_E_INVALID);
    T_STREQ(err.msg, "job input: path is not \"registry\" or \"engine\"");
    json_object_del(o, "path");
    in.engine = 1;
    json_t *eng = jobmsg_docker_build(&in);
    T_REQUIRE(eng);
    T_STREQ(json_string_value(json_object_get(eng, "path")), "engine");
    T_CHECK(jobmsg_docker_parse(eng, "bob", &out, &err) == 0 && out.engine);
    json_decref(eng);
    in.engine = 0;
    json_object_set_new(o, "credentials", json_string("user:pass"));
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == -1);
    T_STREQ(err.msg, "job input: credentials is not an object");
    json_object_del(o, "credentials");
    json_object_del(o, "image");
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == -1 && err.code == HUB_E_INVALID);
    T_STREQ(err.msg, "missing docker image name");
    json_object_set_new(o, "image", json_string("x"));
    json_object_set_new(o, "platform", json_integer(1));
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == -1);
    json_object_del(o, "platform");
    json_object_del(o, "name");
    T_CHECK(jobmsg_docker_parse(o, "bob", &out, &err) == -1);
    T_STREQ(err.msg, "job input has no name");
    json_decref(o);
    in.image = "\xff";
    T_CHECK(jobmsg_docker_build(&in) == NULL);
}

T_MAIN(T_CASE(test_docker_round_trip_and_refusals), T_CASE(test_kind_names), T_CASE(test_upload_round_trip),
       T_CASE(test_upload_old_jobs_and_refusals), T_CASE(test_merge_round_trip_and_refusals),
       T_CASE(test_protected_and_spool_names))
