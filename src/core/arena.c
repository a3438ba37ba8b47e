/*
 * arena.c — bump allocation for short-lived memory (activations of one forward pass, parse
 * trees), released all at once. A fixed arena is one block reserved up front; a growable one
 * adds blocks and, after a reset, replaces them by one block of the high-water size so that
 * repeated use settles into a single allocation.
 */
#include "core/core.h"

#include <string.h>

struct sdc_arena_block {
    sdc_arena_block *next; /* older block */
    size_t size;           /* usable bytes in data */
    size_t offset;         /* bytes used in data */
    _Alignas(SDC_ALIGN) unsigned char data[];
};

void sdc_arena_init(sdc_arena *arena, sdc_context *ctx, size_t block_size)
{
    memset(arena, 0, sizeof *arena);
    arena->ctx = ctx;
    arena->block_size = block_size ? block_size : (size_t)1 << 16;
}

static sdc_arena_block *new_block(sdc_arena *arena, size_t size)
{
    size_t bytes;
    if (!sdc_size_add(sizeof(sdc_arena_block), size, &bytes))
        return NULL;
    sdc_arena_block *b = sdc_malloc(arena->ctx, bytes);
    if (!b)
        return NULL;
    b->next = arena->head;
    b->size = size;
    b->offset = 0;
    arena->head = b;
    return b;
}

sdc_status sdc_arena_init_fixed(sdc_arena *arena, sdc_context *ctx, size_t capacity)
{
    sdc_arena_init(arena, ctx, capacity);
    arena->fixed = true;
    if (!new_block(arena, capacity))
        return sdc_fail_oom(ctx, "a fixed arena", capacity);
    return SDC_STATUS_OK;
}

static void *bump(sdc_arena *arena, sdc_arena_block *b, size_t size, size_t align)
{
    size_t start = (b->offset + align - 1) & ~(align - 1);
    if (start > b->size || size > b->size - start)
        return NULL;
    arena->used += start + size - b->offset;
    if (arena->used > arena->high_water)
        arena->high_water = arena->used;
    b->offset = start + size;
    return b->data + start;
}

void *sdc_arena_alloc(sdc_arena *arena, size_t size, size_t align)
{
    if (align == 0)
        align = SDC_ALIGN;
    if (align > SDC_ALIGN || (align & (align - 1)) != 0)
        return NULL;
    if (arena->head) {
        void *p = bump(arena, arena->head, size, align);
        if (p || arena->fixed)
            return p;
    } else if (arena->fixed) {
        return NULL;
    }
    size_t want = size > arena->block_size ? size : arena->block_size;
    sdc_arena_block *b = new_block(arena, want);
    if (!b)
        return NULL;
    return bump(arena, b, size, align);
}

sdc_arena_mark sdc_arena_get_mark(const sdc_arena *arena)
{
    return (sdc_arena_mark){
        .block = arena->head,
        .offset = arena->head ? arena->head->offset : 0,
        .used = arena->used,
    };
}

void sdc_arena_reset_to(sdc_arena *arena, sdc_arena_mark mark)
{
    while (arena->head && arena->head != mark.block) {
        sdc_arena_block *b = arena->head;
        arena->head = b->next;
        sdc_free(arena->ctx, b);
    }
    if (arena->head)
        arena->head->offset = mark.offset;
    arena->used = mark.used;
}

void sdc_arena_reset(sdc_arena *arena)
{
    if (arena->head && arena->head->next) {
        /* Several blocks: next time use one block big enough for everything seen so far. */
        sdc_arena_release(arena);
        if (arena->high_water > arena->block_size)
            arena->block_size = arena->high_water;
        return;
    }
    if (arena->head)
        arena->head->offset = 0;
    arena->used = 0;
}

void sdc_arena_release(sdc_arena *arena)
{
    while (arena->head) {
        sdc_arena_block *b = arena->head;
        arena->head = b->next;
        sdc_free(arena->ctx, b);
    }
    arena->used = 0;
}
