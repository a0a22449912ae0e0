/* singleflight.c - one computation per key at a time (singleflight.h). */
#include "singleflight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX 128

struct singleflight {
    pthread_mutex_t mu;
    pthread_cond_t cv;                           /* a computation ended */
    char keys[SINGLEFLIGHT_SLOTS][KEY_MAX];      /* "" = free slot */
};

singleflight *singleflight_new(void)
{
    singleflight *sf = calloc(1, sizeof *sf);
    if (!sf)
        return NULL;
    pthread_mutex_init(&sf->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sf->cv, &ca);
    pthread_condattr_destroy(&ca);
    return sf;
}

void singleflight_free(singleflight *sf)
{
    if (!sf)
        return;
    pthread_cond_destroy(&sf->cv);
    pthread_mutex_destroy(&sf->mu);
    free(sf);
}

static int find(const singleflight *sf, const char *key)
{
    for (int i = 0; i < SINGLEFLIGHT_SLOTS; i++)
        if (sf->keys[i][0] && strcmp(sf->keys[i], key) == 0)
            return i;
    return -1;
}

int singleflight_begin(singleflight *sf, const char *key)
{
    if (strlen(key) >= KEY_MAX)
        return 1;   /* not merged, still correct */
    pthread_mutex_lock(&sf->mu);
    if (find(sf, key) < 0) {
        for (int i = 0; i < SINGLEFLIGHT_SLOTS; i++) {
            if (!sf->keys[i][0]) {
                strcpy(sf->keys[i], key);
                break;
            }
        }
        /* every slot busy: compute without merging (and without a slot) */
        pthread_mutex_unlock(&sf->mu);
        return 1;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SINGLEFLIGHT_WAIT_MS / 1000;
    while (find(sf, key) >= 0)
        if (pthread_cond_timedwait(&sf->cv, &sf->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&sf->mu);
    return 0;
}

void singleflight_end(singleflight *sf, const char *key)
{
    pthread_mutex_lock(&sf->mu);
    int i = find(sf, key);
    if (i >= 0)
        sf->keys[i][0] = '\0';
    pthread_cond_broadcast(&sf->cv);
    pthread_mutex_unlock(&sf->mu);
}
