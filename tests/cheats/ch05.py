"""Cheats for chapter 05: correct solutions that take the shortcut each test switches off."""

CHEATS = {
    "ex-05-head-contributions": '''
def head_contributions(heads, out_proj):
    mha = MultiHeadAttention(out_proj.in_features, heads.shape[1])
    parts = []
    for h in range(heads.shape[1]):
        only = torch.zeros_like(heads)
        only[:, h] = heads[:, h]
        parts.append(torch.nn.functional.linear(mha.merge_heads(only), out_proj.weight))
    return torch.stack(parts, dim=1)
''',
    "ex-05-params": '''
def mha_param_count(d_model, kdim=None, vdim=None, bias=True):
    return sum(p.numel() for p in MultiHeadAttention(d_model, 1, kdim=kdim, vdim=vdim, bias=bias).parameters())
''',
    "ex-05-online-softmax": '''
def merge_states(states):
    m = torch.stack([s[0] for s in states]).max(0).values
    log_l = torch.logsumexp(torch.stack([s[0] + torch.log(s[1]) for s in states]), 0)   # log of the merged l
    w = torch.softmax(torch.stack([s[0] + torch.log(s[1]) for s in states]), 0)        # share of each state
    o = sum(wi * s[2] / s[1].clamp_min(1e-300) for wi, s in zip(w, states))
    return m, torch.exp(log_l - m), o * torch.exp(log_l - m)
''',
}
