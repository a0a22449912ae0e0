/* t.h - the minimal assertion harness of the unit tests.
 *
 * T_CHECK records a failure and goes on; T_REQUIRE stops the test function.
 * T_MAIN runs the listed test functions and prints the closing line
 * "N passed, N failed", exiting non-zero on any failure.
 */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_checks;

#define T_CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    t_failed_checks++; } } while (0)
#define T_REQUIRE(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
    t_failed_checks++; return; } } while (0)
#define T_STREQ(a, b) do { const char *t_a_ = (a), *t_b_ = (b); \
    if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) { \
    fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
            #a, #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); \
    t_failed_checks++; } } while (0)

typedef struct { const char *name; void (*fn)(void); } t_case;

static inline int t_run(const t_case *cases, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = t_failed_checks;
        cases[i].fn();
        if (t_failed_checks == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define T_CASE(fn) { #fn, fn }
#define T_MAIN(...) int main(void) { \
    static const t_case cases_[] = { __VA_ARGS__ }; \
    return t_run(cases_, sizeof cases_ / sizeof cases_[0]); }

/* Path of a file of the shared test data (HUB_TESTDATA). Static buffer. */
static inline const char *t_data(const char *name)
{
    static char buf[4096];
    const char *dir = getenv("HUB_TESTDATA");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/data", name);
    return buf;
}

#endif
