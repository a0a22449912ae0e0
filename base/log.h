/* log.h - leveled logging to stderr, shared by every binary.
 *
 * One line per message: "<UTC time> <program>[<pid>] <LEVEL> <text>".
 * Thread-safe (each line is written with one locked stdio call). Messages
 * below the current level are dropped without formatting.
 */
#ifndef HUB_LOG_H
#define HUB_LOG_H

typedef enum log_level {
    HUB_LOG_DEBUG = 0,
    HUB_LOG_INFO = 1,
    HUB_LOG_WARN = 2,
    HUB_LOG_ERROR = 3,
} log_level;

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

/* Writes one message at `level` (a newline is added). */
void log_msg(log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(HUB_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(HUB_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(HUB_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(HUB_LOG_ERROR, __VA_ARGS__)

#endif
