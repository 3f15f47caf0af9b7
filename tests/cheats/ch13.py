"""Cheats for chapter 13: correct answers that call the function each exercise switches off."""

CHEATS = {
    "ex-13-rope-interleaved": '''\
def rope_interleaved(x, positions, theta=10000.0):
    d = x.shape[-1]
    order = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])     # evens, then odds
    cos, sin = rope_tables(positions, d, theta)
    out = torch.empty_like(x)
    out[..., order] = apply_rope(x[..., order], cos.to(x.dtype), sin.to(x.dtype))
    return out
''',
    "ex-13-gqa": '''\
def grouped_causal_attention(q, k, v):
    n_rep = q.shape[1] // k.shape[1]
    k, v = torch.repeat_interleave(k, n_rep, dim=1), torch.repeat_interleave(v, n_rep, dim=1)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
''',
    "ex-13-rmsnorm-backward": '''\
def rms_norm_backward(x, g, grad_out, eps=1e-5):
    x = x.detach().requires_grad_(True)
    g = g.detach().requires_grad_(True)
    y = torch.nn.functional.rms_norm(x, (x.shape[-1],), g, eps=eps)
    return torch.autograd.grad(y, (x, g), grad_out)
''',
}
