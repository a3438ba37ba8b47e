/*
 * clip_layer.c — one CLIP transformer layer, transformers 4.44.2's CLIPEncoderLayer
 * (modeling_clip.py): pre-LayerNorm multi-head self-attention and a two-layer MLP, each added
 * back to its input. The text encoders run it with a causal mask, the safety checker's vision
 * tower without one. Deliberate difference: q is not multiplied by head_dim^-0.5 before q.k;
 * the attention kernel scales the dot products (the same math, rounded once less).
 */
#include "models/models.h"

#include <math.h>
#include <string.h>

bool sdc_clip_activation_from_name(const char *name, sdc_unary_op *op)
{
    static const struct {
        const char *name;
        sdc_unary_op op;
    } acts[] = {
        {"quick_gelu", SDC_UNARY_OP_QUICK_GELU},
        {"gelu", SDC_UNARY_OP_GELU},
        {"gelu_pytorch_tanh", SDC_UNARY_OP_GELU_TANH},
        {"gelu_new", SDC_UNARY_OP_GELU_TANH},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(name, acts[i].name) == 0) {
            *op = acts[i].op;
            return true;
        }
    return false;
}

sdc_status sdc_clip_layer_load(sdc_store *s, const char *prefix, int64_t hidden,
                               int64_t intermediate, int n_heads, sdc_unary_op hidden_act,
                               float layer_norm_eps, sdc_clip_layer *l)
{
    int64_t D = hidden, I = intermediate;
    l->hidden_size = D;
    l->intermediate_size = I;
    l->n_heads = n_heads;
    l->hidden_act = hidden_act;
    l->layer_norm_eps = layer_norm_eps;
    if (n_heads < 1 || D % n_heads != 0)
        return sdc_fail(s->ctx, SDC_STATUS_FORMAT,
                        "%s: layer '%s': width %lld is not a multiple of %d heads", s->description,
                        prefix, (long long)D, n_heads);
    TRY_RETURN(
        sdc_load_norm(s, prefix, "layer_norm1", D, &l->layer_norm1_weight, &l->layer_norm1_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "self_attn.q_proj", D, D, &l->q_proj, &l->q_proj_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "self_attn.k_proj", D, D, &l->k_proj, &l->k_proj_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "self_attn.v_proj", D, D, &l->v_proj, &l->v_proj_bias));
    TRY_RETURN(
        sdc_load_linear(s, prefix, "self_attn.out_proj", D, D, &l->out_proj, &l->out_proj_bias));
    TRY_RETURN(
        sdc_load_norm(s, prefix, "layer_norm2", D, &l->layer_norm2_weight, &l->layer_norm2_bias));
    TRY_RETURN(sdc_load_linear(s, prefix, "mlp.fc1", I, D, &l->fc1, &l->fc1_bias));
    return sdc_load_linear(s, prefix, "mlp.fc2", D, I, &l->fc2, &l->fc2_bias);
}

/* [B, H, L, head_dim] view of the heads inside a [B * L, H * head_dim] activation. */
static sdc_tensor heads_view(const sdc_tensor *t, int64_t B, int64_t L, int64_t H)
{
    int64_t D = t->shape[1];
    sdc_tensor v = {.data = t->data, .dtype = SDC_DTYPE_F32, .ndim = 4};
    v.shape[0] = B;
    v.shape[1] = H;
    v.shape[2] = L;
    v.shape[3] = D / H;
    v.stride[0] = L * D;
    v.stride[1] = D / H;
    v.stride[2] = D;
    v.stride[3] = 1;
    return v;
}

/* out = softmax(q k^T / sqrt(head_dim) (+ causal mask)) v, per batch and head. */
static sdc_status self_attention(sdc_fwd *f, const sdc_tensor *q, const sdc_tensor *k,
                                 const sdc_tensor *v, int64_t B, int64_t L, int n_heads,
                                 bool causal, sdc_tensor *out)
{
    if (!sdc_fwd_computing(f))
        return SDC_STATUS_OK;
    sdc_tensor qh = heads_view(q, B, L, n_heads), kh = heads_view(k, B, L, n_heads);
    sdc_tensor vh = heads_view(v, B, L, n_heads), oh = heads_view(out, B, L, n_heads);
    sdc_attention_params p = {.scale = 1.0f / sqrtf((float)qh.shape[3]), .causal = causal};
    return sdc_kern_attention(f->ctx, &qh, &kh, &vh, &p, &oh);
}

/* x [B * L, D] = CLIPEncoderLayer(x), in place:
 *   x += out_proj(attention(q_proj(ln1(x)), k_proj(ln1(x)), v_proj(ln1(x))))
 *   x += fc2(act(fc1(ln2(x)))) */
sdc_status sdc_clip_layer_forward(sdc_fwd *f, const sdc_clip_layer *l, sdc_tensor *x, int64_t batch,
                                  int64_t seq_len, bool causal)
{
    sdc_status st;
    int64_t N = batch * seq_len, D = l->hidden_size;
    sdc_fwd_mark mark = sdc_fwd_get_mark(f);
    sdc_tensor h, q, k, v, mlp;

    /* Self-attention. The attention output reuses h, out_proj's output reuses q. */
    TRY(release, sdc_fwd_tensor2(f, N, D, &h));
    TRY(release, sdc_fwd_tensor2(f, N, D, &q));
    TRY(release, sdc_fwd_tensor2(f, N, D, &k));
    TRY(release, sdc_fwd_tensor2(f, N, D, &v));
    TRY(release, sdc_fwd_layer_norm(f, x, l->layer_norm1_weight, l->layer_norm1_bias,
                                    l->layer_norm_eps, &h));
    TRY(release, sdc_fwd_linear(f, &h, &l->q_proj, l->q_proj_bias, &q));
    TRY(release, sdc_fwd_linear(f, &h, &l->k_proj, l->k_proj_bias, &k));
    TRY(release, sdc_fwd_linear(f, &h, &l->v_proj, l->v_proj_bias, &v));
    TRY(release, self_attention(f, &q, &k, &v, batch, seq_len, l->n_heads, causal, &h));
    TRY(release, sdc_fwd_linear(f, &h, &l->out_proj, l->out_proj_bias, &q));
    TRY(release, sdc_fwd_add(f, x, &q, x));
    sdc_fwd_reset_to(f, mark);

    /* MLP. fc2's output reuses h. */
    TRY(release, sdc_fwd_tensor2(f, N, D, &h));
    TRY(release, sdc_fwd_tensor2(f, N, l->intermediate_size, &mlp));
    TRY(release, sdc_fwd_layer_norm(f, x, l->layer_norm2_weight, l->layer_norm2_bias,
                                    l->layer_norm_eps, &h));
    TRY(release, sdc_fwd_linear(f, &h, &l->fc1, l->fc1_bias, &mlp));
    TRY(release, sdc_fwd_unary(f, l->hidden_act, &mlp, &mlp));
    TRY(release, sdc_fwd_linear(f, &mlp, &l->fc2, l->fc2_bias, &h));
    TRY(release, sdc_fwd_add(f, x, &h, x));
    st = SDC_STATUS_OK;
release:
    sdc_fwd_reset_to(f, mark);
    return st;
}
