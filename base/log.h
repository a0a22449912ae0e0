/* log.h - leveled logging to stderr, shared by every binary.
 *
 * Two formats (log_set_format):
 *   text  "<UTC time> <program>[<pid>] <LEVEL> <text>[ key=value...]"
 *   json  one JSON object per line: {"time": "<UTC ISO 8601, ms>", "level":
 *         "info", "program": ..., "pid": N, "msg": ..., "request_id": ...
 *         (when the thread has one), then the line's own fields}
 * Thread-safe (each line is written with one locked stdio call). Messages
 * below the current level are dropped without formatting.
 *
 * Request ids: a thread that works for one request or job sets it with
 * log_set_request_id; every line that thread writes carries it until it is
 * cleared, and the job queue stores it with the jobs that thread creates
 * (queue_job_create), which is how it follows a job to the worker.
 */
#ifndef HUB_LOG_H
#define HUB_LOG_H

#include <stddef.h>

typedef enum log_level {
    HUB_LOG_DEBUG = 0,
    HUB_LOG_INFO = 1,
    HUB_LOG_WARN = 2,
    HUB_LOG_ERROR = 3,
} log_level;

typedef enum log_format {
    HUB_LOG_TEXT = 0,
    HUB_LOG_JSON = 1,
} log_format;

/* Longest request id kept (longer ones are refused by log_request_id_valid). */
#define LOG_REQUEST_ID_MAX 64

/* Sets the program name printed on each line (not copied: pass a string
 * that lives as long as the process, such as a literal). */
void log_set_program(const char *name);

/* Sets the minimum level that is printed (default HUB_LOG_INFO). */
void log_set_level(log_level level);

/* Current minimum level. */
log_level log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error" (case-insensitive).
 * Returns 0, or -1 when the word is not one of them. */
int log_level_parse(const char *word, log_level *out);

/* Sets the line format (default HUB_LOG_TEXT). */
void log_set_format(log_format format);

/* Parses "text" or "json" (case-insensitive). Returns 0, or -1 otherwise. */
int log_format_parse(const char *word, log_format *out);

/* Sets (copies) the calling thread's request id; NULL or "" clears it. An
 * id that log_request_id_valid refuses clears it too. */
void log_set_request_id(const char *id);

/* The calling thread's request id, "" when none (valid until the thread
 * sets another). */
const char *log_request_id(void);

/* 1 when s is an acceptable request id: 1..LOG_REQUEST_ID_MAX characters
 * of [A-Za-z0-9._:-]; else 0. */
int log_request_id_valid(const char *s);

/* Writes a new random request id (32 hex digits, from /dev/urandom, or the
 * clock and pid when that fails) into out (size >= 33). Returns out. */
char *log_request_id_new(char *out, size_t n);

/* One field of a structured line: a string (str != NULL) or a number. */
typedef struct log_field {
    const char *key;
    const char *str;
    long long num;
} log_field;

/* Writes one message at `level` (a newline is added). */
void log_msg(log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes one message with n extra fields (JSON members, or key=value pairs
 * in text; string values are quoted there when they hold blanks). */
void log_msg_fields(log_level level, const log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_msg(HUB_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(HUB_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(HUB_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(HUB_LOG_ERROR, __VA_ARGS__)

#endif
