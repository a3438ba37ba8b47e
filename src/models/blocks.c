/*
 * blocks.c — the building blocks the UNet, VAE and ControlNet share, each reproducing its
 * diffusers 0.30 module: ResnetBlock2D, Downsample2D / Upsample2D, Attention, the
 * BasicTransformerBlock inside Transformer2DModel, the VAE mid-block attention, TimestepEmbedding,
 * and the UNet's down, mid and up blocks with the time conditioning in front of them.
 * Each block's output is allocated from the forward pass's arena before its temporaries, which
 * are released when it returns.
 */
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Runs expr; on failure jumps to `label` with st set. */
/* Runs expr; on failure returns its status (for functions with nothing to undo). */
/* GroupNorm eps of Transformer2DModel's input norm (fixed in diffusers). */
#define TRANSFORMER_NORM_EPS 1e-6f
/* LayerNorm eps of BasicTransformerBlock (norm_eps default). */
#define TRANSFORMER_LAYER_NORM_EPS 1e-5f
/* The feed-forward runs over token rows in chunks of about this many bytes of temporaries. */
#define FF_CHUNK_BYTES ((size_t)16 << 20)

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                    */

static sdc_status full_name(sdc_store *s, char *buf, size_t size, const char *prefix,
                            const char *name, const char *suffix)
{
    int n = snprintf(buf, size, "%s%s%s", prefix, name, suffix);
    if (n < 0 || (size_t)n >= size)
        return sdc_fail(s->ctx, SDC_STATUS_INTERNAL, "%s: tensor name '%s%s%s' is too long",
                        s->description, prefix, name, suffix);
    return SDC_STATUS_OK;
}

bool sdc_load_has(const sdc_store *s, const char *fmt, ...)
{
    char name[SDC_MODEL_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof name && sdc_store_has(s, name);
}

sdc_status sdc_load_weight(sdc_store *s, const char *prefix, const char *name, int ndim,
                           const int64_t *shape, sdc_weight *w)
{
    char full[SDC_MODEL_NAME_MAX];
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ""));
    return sdc_store_weight(s, full, ndim, shape, w);
}

sdc_status sdc_load_vector(sdc_store *s, const char *prefix, const char *name, int64_t n,
                           const float **v)
{
    char full[SDC_MODEL_NAME_MAX];
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ""));
    return sdc_store_vector(s, full, n, v);
}

sdc_status sdc_load_conv(sdc_store *s, const char *prefix, const char *name, int64_t out,
                         int64_t in, int64_t k, sdc_weight *w, const float **bias)
{
    char full[SDC_MODEL_NAME_MAX];
    int64_t shape[4] = {out, in, k, k};
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".weight"));
    TRY_RETURN(sdc_store_weight(s, full, 4, shape, w));
    if (!bias)
        return SDC_STATUS_OK;
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".bias"));
    return sdc_store_vector(s, full, out, bias);
}

sdc_status sdc_load_linear(sdc_store *s, const char *prefix, const char *name, int64_t out,
                           int64_t in, sdc_weight *w, const float **bias)
{
    char full[SDC_MODEL_NAME_MAX];
    int64_t shape[2] = {out, in};
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".weight"));
    TRY_RETURN(sdc_store_weight(s, full, 2, shape, w));
    if (!bias)
        return SDC_STATUS_OK;
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".bias"));
    return sdc_store_vector(s, full, out, bias);
}

sdc_status sdc_load_norm(sdc_store *s, const char *prefix, const char *name, int64_t n,
                         const float **gamma, const float **beta)
{
    char full[SDC_MODEL_NAME_MAX];
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".weight"));
    TRY_RETURN(sdc_store_vector(s, full, n, gamma));
    TRY_RETURN(full_name(s, full, sizeof full, prefix, name, ".bias"));
    return sdc_store_vector(s, full, n, beta);
}

sdc_status sdc_load_check_unused(const sdc_store *s)
{
    const char *names[3];
    size_t n = sdc_store_unused(s, names, 3);
    if (n == 0)
        return SDC_STATUS_OK;
    return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                    "%s: %zu tensor%s the configuration has no place for, e.g. '%s'%s%s%s",
                    s->description, n, n == 1 ? "" : "s", names[0], n > 1 ? ", '" : "",
                    n > 1 ? names[1] : "", n > 1 ? "'" : "");
}

/* A name prefix "<base><index>." in buf. */
static sdc_status prefix_of(sdc_store *s, char *buf, size_t size, const char *fmt, ...)
    SDC_PRINTF(4, 5);
static sdc_status prefix_of(sdc_store *s, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        return sdc_fail(s->ctx, SDC_STATUS_INTERNAL, "%s: a tensor name prefix is too long",
                        s->description);
    return SDC_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Shape checks of forward inputs                                                             */

sdc_status sdc_check_input(sdc_context *ctx, const char *what, const sdc_tensor *t, int ndim,
                           const int64_t *shape)
{
    char have[96], want[96];
    bool ok = t && t->ndim == ndim && t->dtype == SDC_DTYPE_F32 && sdc_tensor_is_contiguous(t);
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || t->shape[i] == shape[i];
    if (ok)
        return SDC_STATUS_OK;
    if (!t)
        return sdc_fail(ctx, SDC_STATUS_INVALID_ARGUMENT, "%s is missing", what);
    size_t pos = (size_t)snprintf(want, sizeof want, "[");
    for (int i = 0; i < ndim && pos < sizeof want; i++) {
        int n = shape[i] < 0 ? snprintf(want + pos, sizeof want - pos, "%s*", i ? ", " : "")
                             : snprintf(want + pos, sizeof want - pos, "%s%lld", i ? ", " : "",
                                        (long long)shape[i]);
        pos += n > 0 ? (size_t)n : 0;
    }
    if (pos < sizeof want)
        snprintf(want + pos, sizeof want - pos, "]");
    if (t->dtype != SDC_DTYPE_F32 || !sdc_tensor_is_contiguous(t))
        return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s %s must be contiguous F32 (is %s)", what,
                        sdc_shape_str(t->ndim, t->shape, have, sizeof have),
                        sdc_dtype_name(t->dtype));
    return sdc_fail(ctx, SDC_STATUS_SHAPE, "%s has shape %s, expected %s", what,
                    sdc_shape_str(t->ndim, t->shape, have, sizeof have), want);
}

/* ---------------------------------------------------------------------------------------- */
/* ResnetBlock2D                                                                              */

sdc_status sdc_resnet_load(sdc_store *s, const char *prefix, int64_t in, int64_t out, int64_t temb,
                           int groups, float eps, sdc_resnet *r)
{
    memset(r, 0, sizeof *r);
    r->in_channels = in;
    r->out_channels = out;
    r->temb_channels = temb;
    r->groups = groups;
    r->eps = eps;
    TRY_RETURN(sdc_load_norm(s, prefix, "norm1", in, &r->norm1_weight, &r->norm1_bias));
    TRY_RETURN(sdc_load_conv(s, prefix, "conv1", out, in, 3, &r->conv1, &r->conv1_bias));
    if (temb > 0)
        TRY_RETURN(sdc_load_linear(s, prefix, "time_emb_proj", out, temb, &r->time_emb_proj,
                                   &r->time_emb_proj_bias));
    TRY_RETURN(sdc_load_norm(s, prefix, "norm2", out, &r->norm2_weight, &r->norm2_bias));
    TRY_RETURN(sdc_load_conv(s, prefix, "conv2", out, out, 3, &r->conv2, &r->conv2_bias));
    r->has_shortcut = in != out;
    if (r->has_shortcut)
        TRY_RETURN(sdc_load_conv(s, prefix, "conv_shortcut", out, in, 1, &r->conv_shortcut,
                                 &r->conv_shortcut_bias));
    return SDC_STATUS_OK;
}

sdc_status sdc_resnet_forward(sdc_fwd *f, const sdc_resnet *r, const sdc_tensor *x,
                              const sdc_tensor *temb, sdc_tensor *out)
{
    sdc_status st;
    int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3];
    int64_t want[4] = {-1, r->in_channels, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "resnet input", x, 4, want));
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor h, t;
    TRY(release, sdc_fwd_tensor4(f, B, r->out_channels, H, W, out));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);

    /* h = conv1(silu(norm1(x))) */
    TRY(release, sdc_fwd_tensor4(f, B, r->out_channels, H, W, &h));
    sdc_fwd_mark after_h = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, r->in_channels, H, W, &t));
    TRY(release,
        sdc_fwd_group_norm(f, x, r->groups, r->norm1_weight, r->norm1_bias, r->eps, true, &t));
    TRY(release, sdc_fwd_conv2d(f, &t, &r->conv1, r->conv1_bias, 1, 1, &h));
    sdc_fwd_reset_to(f, after_h);

    /* h += time_emb_proj(silu(temb))[:, :, None, None] (temb arrives already through SiLU) */
    if (r->temb_channels > 0) {
        TRY(release, sdc_fwd_tensor2(f, B, r->out_channels, &t));
        TRY(release, sdc_fwd_linear(f, temb, &r->time_emb_proj, r->time_emb_proj_bias, &t));
        int64_t s4[4] = {B, r->out_channels, 1, 1};
        sdc_tensor t4 = sdc_tensor_make(t.data, SDC_DTYPE_F32, 4, s4);
        TRY(release, sdc_fwd_add(f, &h, &t4, &h));
        sdc_fwd_reset_to(f, after_h);
    }

    /* out = conv2(silu(norm2(h))) + shortcut(x) */
    TRY(release,
        sdc_fwd_group_norm(f, &h, r->groups, r->norm2_weight, r->norm2_bias, r->eps, true, &h));
    TRY(release, sdc_fwd_conv2d(f, &h, &r->conv2, r->conv2_bias, 1, 1, out));
    if (r->has_shortcut) {
        TRY(release, sdc_fwd_tensor4(f, B, r->out_channels, H, W, &t));
        TRY(release, sdc_fwd_conv2d(f, x, &r->conv_shortcut, r->conv_shortcut_bias, 1, 0, &t));
        TRY(release, sdc_fwd_add(f, out, &t, out));
    } else {
        TRY(release, sdc_fwd_add(f, out, x, out));
    }
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Downsample2D and Upsample2D                                                                */

sdc_status sdc_downsample_forward(sdc_fwd *f, const sdc_weight *w, const float *bias, int pad,
                                  const sdc_tensor *x, sdc_tensor *out)
{
    sdc_status st;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0];
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    if (pad >= 0) {
        TRY(release,
            sdc_fwd_tensor4(f, B, O, (H + 2 * pad - 3) / 2 + 1, (W + 2 * pad - 3) / 2 + 1, out));
        TRY(release, sdc_fwd_conv2d(f, x, w, bias, 2, pad, out));
        return SDC_STATUS_OK;
    }
    /* The VAE encoder's Downsample2D(padding=0) pads one zero row and column at the bottom
     * and right only, then convolves without padding. */
    if (H < 2 || W < 2)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                        "downsample: input [%lld, %lld, %lld, %lld] is too small", (long long)B,
                        (long long)C, (long long)H, (long long)W);
    TRY(release, sdc_fwd_tensor4(f, B, O, (H + 1 - 3) / 2 + 1, (W + 1 - 3) / 2 + 1, out));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    sdc_tensor padded;
    TRY(release, sdc_fwd_tensor4(f, B, C, H + 1, W + 1, &padded));
    if (sdc_fwd_computing(f))
        memset(padded.data, 0, sdc_tensor_nbytes(&padded));
    sdc_tensor inner = sdc_tensor_slice(&padded, 2, 0, H);
    inner = sdc_tensor_slice(&inner, 3, 0, W);
    TRY(release, sdc_fwd_copy(f, x, &inner));
    TRY(release, sdc_fwd_conv2d(f, &padded, w, bias, 2, 0, out));
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

sdc_status sdc_upsample_to_forward(sdc_fwd *f, const sdc_weight *w, const float *bias,
                                   const sdc_tensor *x, int64_t out_h, int64_t out_w,
                                   sdc_tensor *out)
{
    sdc_status st;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (out_h < 2 * H - 1 || out_h > 2 * H || out_w < 2 * W - 1 || out_w > 2 * W)
        return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                        "upsample: %lldx%lld cannot become %lldx%lld (2n or 2n - 1 per side)",
                        (long long)H, (long long)W, (long long)out_h, (long long)out_w);
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, w->shape[0], out_h, out_w, out));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    sdc_tensor up;
    TRY(release, sdc_fwd_tensor4(f, B, C, 2 * H, 2 * W, &up));
    TRY(release, sdc_fwd_upsample2x(f, x, &up));
    if (out_h != 2 * H || out_w != 2 * W) {
        /* Nearest to 2n - 1 = the 2x rows and columns without the last: crop to a
         * contiguous tensor for the convolution. */
        sdc_tensor cropped, view = sdc_tensor_slice(&up, 2, 0, out_h);
        view = sdc_tensor_slice(&view, 3, 0, out_w);
        TRY(release, sdc_fwd_tensor4(f, B, C, out_h, out_w, &cropped));
        TRY(release, sdc_fwd_copy(f, &view, &cropped));
        up = cropped;
    }
    TRY(release, sdc_fwd_conv2d(f, &up, w, bias, 1, 1, out));
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

sdc_status sdc_upsample_forward(sdc_fwd *f, const sdc_weight *w, const float *bias,
                                const sdc_tensor *x, sdc_tensor *out)
{
    return sdc_upsample_to_forward(f, w, bias, x, 2 * x->shape[2], 2 * x->shape[3], out);
}

/* ---------------------------------------------------------------------------------------- */
/* Attention (diffusers Attention with AttnProcessor2_0)                                      */

sdc_status sdc_attention_load(sdc_store *s, const char *prefix, int64_t query_dim,
                              int64_t context_dim, int n_heads, int64_t head_dim, bool qkv_bias,
                              sdc_attention *a)
{
    memset(a, 0, sizeof *a);
    a->query_dim = query_dim;
    a->context_dim = context_dim;
    a->n_heads = n_heads;
    a->head_dim = head_dim;
    int64_t inner = (int64_t)n_heads * head_dim;
    TRY_RETURN(sdc_load_linear(s, prefix, "to_q", inner, query_dim, &a->to_q,
                               qkv_bias ? &a->to_q_bias : NULL));
    TRY_RETURN(sdc_load_linear(s, prefix, "to_k", inner, context_dim, &a->to_k,
                               qkv_bias ? &a->to_k_bias : NULL));
    TRY_RETURN(sdc_load_linear(s, prefix, "to_v", inner, context_dim, &a->to_v,
                               qkv_bias ? &a->to_v_bias : NULL));
    return sdc_load_linear(s, prefix, "to_out.0", query_dim, inner, &a->to_out, &a->to_out_bias);
}

/* [B * L, H * D] rows seen as [B, H, L, D] (a strided view, no copy). */
static sdc_tensor heads_view(const sdc_tensor *rows, int64_t B, int64_t H, int64_t D)
{
    int64_t shape[4] = {B, rows->shape[0] / B, H, D};
    sdc_tensor t = sdc_tensor_make(rows->data, SDC_DTYPE_F32, 4, shape);
    return sdc_tensor_transpose(&t, 1, 2);
}

sdc_status sdc_attention_forward(sdc_fwd *f, const sdc_attention *a, const sdc_tensor *x,
                                 int64_t batch, const sdc_tensor *context, sdc_tensor *out)
{
    sdc_status st;
    int64_t Mq = x->shape[0], Mk = context->shape[0], inner = (int64_t)a->n_heads * a->head_dim;
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor2(f, Mq, a->query_dim, out));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    sdc_tensor q, k, v, o;
    TRY(release, sdc_fwd_tensor2(f, Mq, inner, &q));
    TRY(release, sdc_fwd_tensor2(f, Mk, inner, &k));
    TRY(release, sdc_fwd_tensor2(f, Mk, inner, &v));
    TRY(release, sdc_fwd_tensor2(f, Mq, inner, &o));
    TRY(release, sdc_fwd_linear(f, x, &a->to_q, a->to_q_bias, &q));
    TRY(release, sdc_fwd_linear(f, context, &a->to_k, a->to_k_bias, &k));
    TRY(release, sdc_fwd_linear(f, context, &a->to_v, a->to_v_bias, &v));
    sdc_tensor q4 = heads_view(&q, batch, a->n_heads, a->head_dim);
    sdc_tensor k4 = heads_view(&k, batch, a->n_heads, a->head_dim);
    sdc_tensor v4 = heads_view(&v, batch, a->n_heads, a->head_dim);
    sdc_tensor o4 = heads_view(&o, batch, a->n_heads, a->head_dim);
    TRY(release, sdc_fwd_attention(f, &q4, &k4, &v4, 1.0f / sqrtf((float)a->head_dim), &o4));
    TRY(release, sdc_fwd_linear(f, &o, &a->to_out, a->to_out_bias, out));
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* BasicTransformerBlock and Transformer2DModel                                               */

static sdc_status transformer_block_load(sdc_store *s, const char *prefix, int64_t dim, int n_heads,
                                         int64_t context_dim, sdc_transformer_block *b)
{
    memset(b, 0, sizeof *b);
    b->dim = dim;
    b->ff_inner = 4 * dim;
    int64_t head_dim = dim / n_heads;
    char p[SDC_MODEL_NAME_MAX];
    TRY_RETURN(sdc_load_norm(s, prefix, "norm1", dim, &b->norm1_weight, &b->norm1_bias));
    TRY_RETURN(prefix_of(s, p, sizeof p, "%sattn1.", prefix));
    TRY_RETURN(sdc_attention_load(s, p, dim, dim, n_heads, head_dim, false, &b->attn1));
    TRY_RETURN(sdc_load_norm(s, prefix, "norm2", dim, &b->norm2_weight, &b->norm2_bias));
    TRY_RETURN(prefix_of(s, p, sizeof p, "%sattn2.", prefix));
    TRY_RETURN(sdc_attention_load(s, p, dim, context_dim, n_heads, head_dim, false, &b->attn2));
    TRY_RETURN(sdc_load_norm(s, prefix, "norm3", dim, &b->norm3_weight, &b->norm3_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "ff.net.0.proj", 2 * b->ff_inner, dim, &b->ff_proj,
                               &b->ff_proj_bias));
    return sdc_load_linear(s, prefix, "ff.net.2", dim, b->ff_inner, &b->ff_out, &b->ff_out_bias);
}

/* h[B * L, dim] += attn1(norm1(h)); += attn2(norm2(h), context); += ff(norm3(h)), in place. */
static sdc_status transformer_block_forward(sdc_fwd *f, const sdc_transformer_block *b,
                                            sdc_tensor *h, int64_t batch, const sdc_tensor *context)
{
    sdc_status st;
    int64_t M = h->shape[0], dim = b->dim, F = b->ff_inner;
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor n, a;

    TRY(release, sdc_fwd_tensor2(f, M, dim, &n));
    TRY(release,
        sdc_fwd_layer_norm(f, h, b->norm1_weight, b->norm1_bias, TRANSFORMER_LAYER_NORM_EPS, &n));
    TRY(release, sdc_attention_forward(f, &b->attn1, &n, batch, &n, &a));
    TRY(release, sdc_fwd_add(f, h, &a, h));
    sdc_fwd_reset_to(f, m);

    TRY(release, sdc_fwd_tensor2(f, M, dim, &n));
    TRY(release,
        sdc_fwd_layer_norm(f, h, b->norm2_weight, b->norm2_bias, TRANSFORMER_LAYER_NORM_EPS, &n));
    TRY(release, sdc_attention_forward(f, &b->attn2, &n, batch, context, &a));
    TRY(release, sdc_fwd_add(f, h, &a, h));
    sdc_fwd_reset_to(f, m);

    /* Feed-forward: GEGLU projection to 2F, GELU gate, projection back; rows are independent,
     * so it runs over chunks of rows to bound the [rows, 3F] temporaries. */
    TRY(release, sdc_fwd_tensor2(f, M, dim, &n));
    TRY(release,
        sdc_fwd_layer_norm(f, h, b->norm3_weight, b->norm3_bias, TRANSFORMER_LAYER_NORM_EPS, &n));
    int64_t chunk = (int64_t)(FF_CHUNK_BYTES / (sizeof(float) * (size_t)(3 * F + dim)));
    chunk = chunk < 64 ? 64 : chunk / 64 * 64;
    if (chunk > M)
        chunk = M;
    sdc_fwd_mark rows_mark = sdc_fwd_get_mark(f);
    for (int64_t r0 = 0; r0 < M; r0 += chunk) {
        int64_t r1 = r0 + chunk < M ? r0 + chunk : M;
        sdc_tensor proj, gated, out;
        sdc_tensor n_rows = sdc_tensor_slice(&n, 0, r0, r1);
        sdc_tensor h_rows = sdc_tensor_slice(h, 0, r0, r1);
        TRY(release, sdc_fwd_tensor2(f, r1 - r0, 2 * F, &proj));
        TRY(release, sdc_fwd_tensor2(f, r1 - r0, F, &gated));
        TRY(release, sdc_fwd_tensor2(f, r1 - r0, dim, &out));
        TRY(release, sdc_fwd_linear(f, &n_rows, &b->ff_proj, b->ff_proj_bias, &proj));
        TRY(release, sdc_fwd_geglu(f, &proj, &gated));
        TRY(release, sdc_fwd_linear(f, &gated, &b->ff_out, b->ff_out_bias, &out));
        TRY(release, sdc_fwd_add(f, &h_rows, &out, &h_rows));
        sdc_fwd_reset_to(f, rows_mark);
    }
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

sdc_status sdc_transformer2d_load(sdc_store *s, sdc_arena *owner, const char *prefix,
                                  int64_t channels, int n_heads, int n_layers, int64_t context_dim,
                                  int groups, sdc_transformer2d *t)
{
    memset(t, 0, sizeof *t);
    if (n_heads < 1 || channels % n_heads != 0 || n_layers < 1)
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: transformer '%s' with %lld channels, %d heads and %d layers: the "
                        "channels must divide into the heads",
                        s->description, prefix, (long long)channels, n_heads, n_layers);
    t->channels = channels;
    t->context_dim = context_dim;
    t->n_heads = n_heads;
    t->n_layers = n_layers;
    t->groups = groups;
    TRY_RETURN(sdc_load_norm(s, prefix, "norm", channels, &t->norm_weight, &t->norm_bias));
    /* A 1x1 conv ([C, C, 1, 1], use_linear_projection false) reads as the linear [C, C]; the
     * sums are the same either way. */
    TRY_RETURN(
        sdc_load_linear(s, prefix, "proj_in", channels, channels, &t->proj_in, &t->proj_in_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "proj_out", channels, channels, &t->proj_out,
                               &t->proj_out_bias));
    t->blocks = sdc_arena_alloc(owner, (size_t)n_layers * sizeof *t->blocks, 0);
    if (!t->blocks)
        return sdc_fail_oom(s->ctx, prefix, (size_t)n_layers * sizeof *t->blocks);
    for (int i = 0; i < n_layers; i++) {
        char p[SDC_MODEL_NAME_MAX];
        TRY_RETURN(prefix_of(s, p, sizeof p, "%stransformer_blocks.%d.", prefix, i));
        TRY_RETURN(transformer_block_load(s, p, channels, n_heads, context_dim, &t->blocks[i]));
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_transformer2d_forward(sdc_fwd *f, const sdc_transformer2d *t, sdc_tensor *x,
                                     const sdc_tensor *context)
{
    sdc_status st;
    int64_t B = x->shape[0], C = t->channels, L = x->shape[2] * x->shape[3];
    int64_t want[4] = {-1, C, -1, -1};
    int64_t want_ctx[3] = {B, -1, t->context_dim};
    TRY_RETURN(sdc_check_input(f->ctx, "transformer input", x, 4, want));
    TRY_RETURN(sdc_check_input(f->ctx, "encoder_hidden_states", context, 3, want_ctx));
    int64_t Lk = context->shape[1];
    int64_t ctx_rows[2] = {B * Lk, t->context_dim};
    sdc_tensor ctx2 = sdc_tensor_make(context->data, SDC_DTYPE_F32, 2, ctx_rows);
    int64_t bcl[3] = {B, C, L};
    sdc_tensor x3 = sdc_tensor_make(x->data, SDC_DTYPE_F32, 3, bcl);
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor h, n, tokens;

    /* h[B * L, C] = proj_in(norm(x) as tokens) */
    TRY(release, sdc_fwd_tensor2(f, B * L, C, &h));
    sdc_fwd_mark after_h = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, C, x->shape[2], x->shape[3], &n));
    TRY(release, sdc_fwd_group_norm(f, x, t->groups, t->norm_weight, t->norm_bias,
                                    TRANSFORMER_NORM_EPS, false, &n));
    TRY(release, sdc_fwd_tensor2(f, B * L, C, &tokens));
    sdc_tensor n3 = sdc_tensor_make(n.data, SDC_DTYPE_F32, 3, bcl);
    sdc_tensor n_tokens = sdc_tensor_transpose(&n3, 1, 2);
    int64_t blc[3] = {B, L, C};
    sdc_tensor tokens3 = sdc_tensor_make(tokens.data, SDC_DTYPE_F32, 3, blc);
    TRY(release, sdc_fwd_copy(f, &n_tokens, &tokens3));
    TRY(release, sdc_fwd_linear(f, &tokens, &t->proj_in, t->proj_in_bias, &h));
    sdc_fwd_reset_to(f, after_h);

    for (int i = 0; i < t->n_layers; i++)
        TRY(release, transformer_block_forward(f, &t->blocks[i], &h, B, &ctx2));

    /* x += proj_out(h) back in [B, C, H, W] order */
    TRY(release, sdc_fwd_tensor2(f, B * L, C, &tokens));
    TRY(release, sdc_fwd_linear(f, &h, &t->proj_out, t->proj_out_bias, &tokens));
    tokens3 = sdc_tensor_make(tokens.data, SDC_DTYPE_F32, 3, blc);
    sdc_tensor out_cl = sdc_tensor_transpose(&tokens3, 1, 2);
    TRY(release, sdc_fwd_add(f, &x3, &out_cl, &x3));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* VAE mid-block attention                                                                    */

sdc_status sdc_vae_attention_load(sdc_store *s, const char *prefix, int64_t channels, int groups,
                                  float eps, sdc_vae_attention *a)
{
    memset(a, 0, sizeof *a);
    a->channels = channels;
    a->groups = groups;
    a->eps = eps;
    TRY_RETURN(sdc_load_norm(s, prefix, "group_norm", channels, &a->group_norm_weight,
                             &a->group_norm_bias));
    return sdc_attention_load(s, prefix, channels, channels, 1, channels, true, &a->attn);
}

sdc_status sdc_vae_attention_forward(sdc_fwd *f, const sdc_vae_attention *a, sdc_tensor *x)
{
    sdc_status st;
    int64_t B = x->shape[0], C = a->channels, L = x->shape[2] * x->shape[3];
    int64_t want[4] = {-1, C, -1, -1};
    TRY_RETURN(sdc_check_input(f->ctx, "VAE attention input", x, 4, want));
    int64_t bcl[3] = {B, C, L}, blc[3] = {B, L, C};
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor n, tokens, out;
    TRY(release, sdc_fwd_tensor2(f, B * L, C, &tokens));
    sdc_fwd_mark after_tokens = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor4(f, B, C, x->shape[2], x->shape[3], &n));
    TRY(release, sdc_fwd_group_norm(f, x, a->groups, a->group_norm_weight, a->group_norm_bias,
                                    a->eps, false, &n));
    sdc_tensor n3 = sdc_tensor_make(n.data, SDC_DTYPE_F32, 3, bcl);
    sdc_tensor n_tokens = sdc_tensor_transpose(&n3, 1, 2);
    sdc_tensor tokens3 = sdc_tensor_make(tokens.data, SDC_DTYPE_F32, 3, blc);
    TRY(release, sdc_fwd_copy(f, &n_tokens, &tokens3));
    sdc_fwd_reset_to(f, after_tokens);

    TRY(release, sdc_attention_forward(f, &a->attn, &tokens, B, &tokens, &out));
    sdc_tensor x3 = sdc_tensor_make(x->data, SDC_DTYPE_F32, 3, bcl);
    sdc_tensor out3 = sdc_tensor_make(out.data, SDC_DTYPE_F32, 3, blc);
    sdc_tensor out_cl = sdc_tensor_transpose(&out3, 1, 2);
    TRY(release, sdc_fwd_add(f, &x3, &out_cl, &x3));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* TimestepEmbedding                                                                          */

sdc_status sdc_timestep_mlp_load(sdc_store *s, const char *prefix, int64_t in_dim, int64_t dim,
                                 sdc_timestep_mlp *m)
{
    memset(m, 0, sizeof *m);
    m->in_dim = in_dim;
    m->dim = dim;
    TRY_RETURN(
        sdc_load_linear(s, prefix, "linear_1", dim, in_dim, &m->linear_1, &m->linear_1_bias));
    return sdc_load_linear(s, prefix, "linear_2", dim, dim, &m->linear_2, &m->linear_2_bias);
}

sdc_status sdc_timestep_mlp_forward(sdc_fwd *f, const sdc_timestep_mlp *m, const sdc_tensor *x,
                                    sdc_tensor *out)
{
    sdc_status st;
    sdc_fwd_mark mark = sdc_fwd_get_mark(f);
    sdc_tensor h;
    TRY(release, sdc_fwd_tensor2(f, x->shape[0], m->dim, out));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);
    TRY(release, sdc_fwd_tensor2(f, x->shape[0], m->dim, &h));
    TRY(release, sdc_fwd_linear(f, x, &m->linear_1, m->linear_1_bias, &h));
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SILU, &h, &h));
    TRY(release, sdc_fwd_linear(f, &h, &m->linear_2, m->linear_2_bias, out));
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, mark);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* UNet time conditioning: time_proj + time_embedding (+ add_time_proj + add_embedding)       */

sdc_status sdc_time_conditioning_load(sdc_store *s, const sdc_unet_config *c,
                                      sdc_time_conditioning *tc)
{
    memset(tc, 0, sizeof *tc);
    tc->proj_dim = c->block_out_channels[0];
    tc->embed_dim = c->time_embed_dim;
    tc->params = (sdc_timestep_embedding_params){
        .flip_sin_to_cos = c->flip_sin_to_cos,
        .downscale_freq_shift = c->freq_shift,
        .max_period = 10000.0f,
        .scale = 1.0f,
    };
    TRY_RETURN(sdc_timestep_mlp_load(s, "time_embedding.", tc->proj_dim, tc->embed_dim,
                                     &tc->time_embedding));
    tc->text_time = c->text_time;
    if (!c->text_time)
        return SDC_STATUS_OK;
    tc->add_time_dim = c->addition_time_embed_dim;
    tc->add_in_dim = c->projection_class_embeddings_input_dim;
    return sdc_timestep_mlp_load(s, "add_embedding.", tc->add_in_dim, tc->embed_dim,
                                 &tc->add_embedding);
}

sdc_status sdc_time_conditioning_forward(sdc_fwd *f, const sdc_time_conditioning *tc, int64_t batch,
                                         const float *timesteps, const sdc_tensor *text_embeds,
                                         const sdc_tensor *time_ids, sdc_tensor *temb)
{
    sdc_status st;
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor proj, emb, aug, cat, ids_emb;
    if (!timesteps && sdc_fwd_computing(f))
        return sdc_fail(f->ctx, SDC_STATUS_INVALID_ARGUMENT, "UNet: timesteps are missing");
    if (tc->text_time) {
        int64_t want_text[2] = {batch, -1}, want_ids[2] = {batch, -1};
        TRY_RETURN(sdc_check_input(f->ctx, "text_embeds", text_embeds, 2, want_text));
        TRY_RETURN(sdc_check_input(f->ctx, "time_ids", time_ids, 2, want_ids));
        int64_t in = text_embeds->shape[1] + time_ids->shape[1] * tc->add_time_dim;
        if (in != tc->add_in_dim)
            return sdc_fail(f->ctx, SDC_STATUS_SHAPE,
                            "add_embedding takes %lld values, but text_embeds [%lld, %lld] and "
                            "%lld time ids of %lld give %lld",
                            (long long)tc->add_in_dim, (long long)batch,
                            (long long)text_embeds->shape[1], (long long)time_ids->shape[1],
                            (long long)tc->add_time_dim, (long long)in);
    }
    TRY(release, sdc_fwd_tensor2(f, batch, tc->embed_dim, temb));
    sdc_fwd_mark temps = sdc_fwd_get_mark(f);

    /* emb = time_embedding(time_proj(timesteps)) */
    TRY(release, sdc_fwd_tensor2(f, batch, tc->proj_dim, &proj));
    TRY(release, sdc_fwd_timestep_embedding(f, timesteps, batch, tc->proj_dim, &tc->params, &proj));
    TRY(release, sdc_timestep_mlp_forward(f, &tc->time_embedding, &proj, &emb));

    /* emb += add_embedding([text_embeds, add_time_proj(time_ids).reshape(B, -1)]) */
    if (tc->text_time) {
        int64_t P = text_embeds->shape[1], n_ids = time_ids->shape[1];
        TRY(release, sdc_fwd_tensor2(f, batch * n_ids, tc->add_time_dim, &ids_emb));
        TRY(release, sdc_fwd_timestep_embedding(f, time_ids->data, batch * n_ids, tc->add_time_dim,
                                                &tc->params, &ids_emb));
        TRY(release, sdc_fwd_tensor2(f, batch, tc->add_in_dim, &cat));
        sdc_tensor text_part = sdc_tensor_slice(&cat, 1, 0, P);
        sdc_tensor time_part = sdc_tensor_slice(&cat, 1, P, tc->add_in_dim);
        int64_t flat[2] = {batch, n_ids * tc->add_time_dim};
        sdc_tensor ids_flat = sdc_tensor_make(ids_emb.data, SDC_DTYPE_F32, 2, flat);
        TRY(release, sdc_fwd_copy(f, text_embeds, &text_part));
        TRY(release, sdc_fwd_copy(f, &ids_flat, &time_part));
        TRY(release, sdc_timestep_mlp_forward(f, &tc->add_embedding, &cat, &aug));
        TRY(release, sdc_fwd_add(f, &emb, &aug, &emb));
    }
    /* Every resnet applies SiLU before its time_emb_proj: done once here. */
    TRY(release, sdc_fwd_unary(f, SDC_UNARY_OP_SILU, &emb, temb));
    sdc_fwd_reset_to(f, temps);
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* UNet blocks: CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn,                  */
/* CrossAttnUpBlock2D / UpBlock2D                                                             */

static sdc_status check_level_config(sdc_store *s, const sdc_unet_config *c, int level)
{
    if (level < 0 || level >= c->n_levels || c->layers_per_block < 1 ||
        c->layers_per_block > SDC_UNET_MAX_LAYERS)
        return sdc_fail(s->ctx, SDC_STATUS_UNSUPPORTED,
                        "%s: level %d of %d with %d layers per block (sdc handles 1 to %d)",
                        s->description, level, c->n_levels, c->layers_per_block,
                        SDC_UNET_MAX_LAYERS);
    return SDC_STATUS_OK;
}

sdc_status sdc_unet_down_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                    int level, sdc_unet_down_block *b)
{
    memset(b, 0, sizeof *b);
    TRY_RETURN(check_level_config(s, c, level));
    int64_t out = c->block_out_channels[level];
    int64_t in = level == 0 ? c->block_out_channels[0] : c->block_out_channels[level - 1];
    b->n_layers = c->layers_per_block;
    b->has_attention = c->down_attention[level];
    b->has_downsampler = level < c->n_levels - 1;
    b->downsample_padding = c->downsample_padding;
    char p[SDC_MODEL_NAME_MAX];
    for (int j = 0; j < b->n_layers; j++) {
        TRY_RETURN(prefix_of(s, p, sizeof p, "down_blocks.%d.resnets.%d.", level, j));
        TRY_RETURN(sdc_resnet_load(s, p, j == 0 ? in : out, out, c->time_embed_dim,
                                   c->norm_num_groups, c->norm_eps, &b->resnets[j]));
        if (!b->has_attention)
            continue;
        TRY_RETURN(prefix_of(s, p, sizeof p, "down_blocks.%d.attentions.%d.", level, j));
        TRY_RETURN(sdc_transformer2d_load(s, owner, p, out, c->n_heads[level],
                                          c->transformer_layers[level], c->cross_attention_dim,
                                          c->norm_num_groups, &b->attentions[j]));
    }
    if (b->has_downsampler) {
        TRY_RETURN(prefix_of(s, p, sizeof p, "down_blocks.%d.downsamplers.0.", level));
        TRY_RETURN(sdc_load_conv(s, p, "conv", out, out, 3, &b->downsampler, &b->downsampler_bias));
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_unet_down_block_forward(sdc_fwd *f, const sdc_unet_down_block *b, sdc_tensor *h,
                                       const sdc_tensor *temb, const sdc_tensor *context,
                                       sdc_tensor *skips, int *n_skips)
{
    for (int j = 0; j < b->n_layers; j++) {
        sdc_tensor out;
        TRY_RETURN(sdc_resnet_forward(f, &b->resnets[j], h, temb, &out));
        if (b->has_attention)
            TRY_RETURN(sdc_transformer2d_forward(f, &b->attentions[j], &out, context));
        skips[(*n_skips)++] = out;
        *h = out;
    }
    if (b->has_downsampler) {
        sdc_tensor out;
        TRY_RETURN(sdc_downsample_forward(f, &b->downsampler, b->downsampler_bias,
                                          b->downsample_padding, h, &out));
        skips[(*n_skips)++] = out;
        *h = out;
    }
    return SDC_STATUS_OK;
}

sdc_status sdc_unet_mid_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                   sdc_unet_mid_block *b)
{
    memset(b, 0, sizeof *b);
    int last = c->n_levels - 1;
    int64_t ch = c->block_out_channels[last];
    TRY_RETURN(sdc_resnet_load(s, "mid_block.resnets.0.", ch, ch, c->time_embed_dim,
                               c->norm_num_groups, c->norm_eps, &b->resnets[0]));
    TRY_RETURN(sdc_transformer2d_load(s, owner, "mid_block.attentions.0.", ch, c->n_heads[last],
                                      c->transformer_layers[last], c->cross_attention_dim,
                                      c->norm_num_groups, &b->attention));
    return sdc_resnet_load(s, "mid_block.resnets.1.", ch, ch, c->time_embed_dim, c->norm_num_groups,
                           c->norm_eps, &b->resnets[1]);
}

sdc_status sdc_unet_mid_block_forward(sdc_fwd *f, const sdc_unet_mid_block *b, const sdc_tensor *x,
                                      const sdc_tensor *temb, const sdc_tensor *context,
                                      sdc_tensor *out)
{
    sdc_status st;
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor h;
    TRY(release, sdc_resnet_forward(f, &b->resnets[0], x, temb, &h));
    TRY(release, sdc_transformer2d_forward(f, &b->attention, &h, context));
    TRY(release, sdc_resnet_forward(f, &b->resnets[1], &h, temb, out));
    TRY(release, sdc_fwd_keep(f, m, out));
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

sdc_status sdc_unet_up_block_load(sdc_store *s, sdc_arena *owner, const sdc_unet_config *c,
                                  int index, sdc_unet_up_block *b)
{
    memset(b, 0, sizeof *b);
    TRY_RETURN(check_level_config(s, c, index));
    int n = c->n_levels;
    int64_t out = c->block_out_channels[n - 1 - index];
    int64_t prev = c->block_out_channels[n - 1 - (index == 0 ? 0 : index - 1)];
    int64_t in = c->block_out_channels[n - 1 - (index + 1 < n ? index + 1 : n - 1)];
    b->n_layers = c->layers_per_block + 1;
    b->has_attention = c->up_attention[index];
    b->has_upsampler = index < n - 1;
    char p[SDC_MODEL_NAME_MAX];
    for (int j = 0; j < b->n_layers; j++) {
        int64_t skip = j == b->n_layers - 1 ? in : out;
        int64_t res_in = j == 0 ? prev : out;
        TRY_RETURN(prefix_of(s, p, sizeof p, "up_blocks.%d.resnets.%d.", index, j));
        TRY_RETURN(sdc_resnet_load(s, p, res_in + skip, out, c->time_embed_dim, c->norm_num_groups,
                                   c->norm_eps, &b->resnets[j]));
        if (!b->has_attention)
            continue;
        TRY_RETURN(prefix_of(s, p, sizeof p, "up_blocks.%d.attentions.%d.", index, j));
        TRY_RETURN(sdc_transformer2d_load(s, owner, p, out, c->n_heads[n - 1 - index],
                                          c->up_transformer_layers[index], c->cross_attention_dim,
                                          c->norm_num_groups, &b->attentions[j]));
    }
    if (b->has_upsampler) {
        TRY_RETURN(prefix_of(s, p, sizeof p, "up_blocks.%d.upsamplers.0.", index));
        TRY_RETURN(sdc_load_conv(s, p, "conv", out, out, 3, &b->upsampler, &b->upsampler_bias));
    }
    return SDC_STATUS_OK;
}

/* One layer of an up block: h = resnet([h, skip (+ residual)]) (+ transformer), the new h
 * taking the old one's place at h_mark. */
static sdc_status up_layer_forward(sdc_fwd *f, const sdc_unet_up_block *b, int j,
                                   sdc_fwd_mark h_mark, sdc_tensor *h, const sdc_tensor *skip,
                                   const sdc_tensor *residual, const sdc_tensor *temb,
                                   const sdc_tensor *context)
{
    sdc_status st;
    int64_t B = h->shape[0], Ch = h->shape[1], Cs = skip->shape[1];
    int64_t H = h->shape[2], W = h->shape[3];
    if (skip->shape[2] != H || skip->shape[3] != W)
        return sdc_fail(f->ctx, SDC_STATUS_INTERNAL,
                        "UNet: a skip is %lldx%lld but the up path is at %lldx%lld",
                        (long long)skip->shape[2], (long long)skip->shape[3], (long long)H,
                        (long long)W);
    sdc_fwd_mark m = sdc_fwd_get_mark(f);
    sdc_tensor cat, out;
    TRY(release, sdc_fwd_tensor4(f, B, Ch + Cs, H, W, &cat));
    sdc_tensor h_part = sdc_tensor_slice(&cat, 1, 0, Ch);
    sdc_tensor skip_part = sdc_tensor_slice(&cat, 1, Ch, Ch + Cs);
    TRY(release, sdc_fwd_copy(f, h, &h_part));
    TRY(release, sdc_fwd_copy(f, skip, &skip_part));
    if (residual)
        TRY(release, sdc_fwd_add(f, &skip_part, residual, &skip_part));
    TRY(release, sdc_resnet_forward(f, &b->resnets[j], &cat, temb, &out));
    /* The old h and cat are dead: the new h moves down into the old one's place. */
    TRY(release, sdc_fwd_keep(f, h_mark, &out));
    *h = out;
    if (b->has_attention)
        TRY(release, sdc_transformer2d_forward(f, &b->attentions[j], h, context));
    return SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, m);
    return st;
}

sdc_status sdc_unet_up_block_forward(sdc_fwd *f, const sdc_unet_up_block *b, sdc_fwd_mark h_mark,
                                     sdc_tensor *h, const sdc_tensor *skips,
                                     const sdc_tensor *residuals, int *n_skips,
                                     const sdc_tensor *temb, const sdc_tensor *context)
{
    for (int j = 0; j < b->n_layers; j++) {
        if (*n_skips < 1)
            return sdc_fail(f->ctx, SDC_STATUS_INTERNAL, "UNet: an up block ran out of skips");
        int i = --*n_skips;
        TRY_RETURN(up_layer_forward(f, b, j, h_mark, h, &skips[i], residuals ? &residuals[i] : NULL,
                                    temb, context));
    }
    if (b->has_upsampler) {
        /* diffusers' upsample_size: the size of the skip the next block takes first, which
         * differs from 2x when a latent side is not a multiple of 2^levels. */
        int64_t out_h = 2 * h->shape[2], out_w = 2 * h->shape[3];
        if (*n_skips > 0) {
            out_h = skips[*n_skips - 1].shape[2];
            out_w = skips[*n_skips - 1].shape[3];
        }
        sdc_tensor out;
        TRY_RETURN(sdc_upsample_to_forward(f, &b->upsampler, b->upsampler_bias, h, out_h, out_w,
                                           &out));
        TRY_RETURN(sdc_fwd_keep(f, h_mark, &out));
        *h = out;
    }
    return SDC_STATUS_OK;
}
