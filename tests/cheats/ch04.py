"""Cheats for chapter 04: correct solutions that take the shortcut each test switches off."""

CHEATS = {
    "ex-04-sliding-window": '''
def sliding_window_mask(T, window):
    ones = torch.ones(T, T, dtype=torch.bool)
    return ones.tril() & ~ones.tril(-window)
''',
    "ex-04-distance-bias": '''
def distance_biased_attention(q, k, v, slope):
    T = q.shape[-2]
    pos = torch.arange(T)
    offset = (pos[:, None] - pos[None, :]).to(q.dtype)
    M = (-slope * offset).masked_fill(offset < 0, float("-inf"))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=M)
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + M, dim=-1)
    return out, w
''',
    "ex-04-softmax-backward": '''
def softmax_backward(w, grad_w):
    s = torch.log(w).detach().requires_grad_()
    return torch.autograd.grad(torch.softmax(s, -1), s, grad_w)[0]
''',
}
