/*
 * timer.c — monotonic time for progress reports and benchmarks.
 */
#include "core/core.h"

#include <time.h>

uint64_t sdc_time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
