"""Cheats for chapter 06: correct solutions that take the shortcut each test switches off."""

CHEATS = {
    "ex-06-shift-matrix": '''
def shift_matrix(d_model, k):
    row = tf.sinusoidal_positions(k + 1, d_model)[k]       # sin(k w_i), cos(k w_i) read off the table
    s, c = row[0::2], row[1::2]
    R = torch.zeros(d_model, d_model)
    i = torch.arange(0, d_model, 2)
    R[i, i], R[i, i + 1], R[i + 1, i], R[i + 1, i + 1] = c, -s, s, c
    return R
''',
    "ex-06-layernorm-backward": '''
def layer_norm_backward(x, grad_out, eps=1e-5):
    x = x.detach().requires_grad_()
    return torch.autograd.grad(F.layer_norm(x, x.shape[-1:], eps=eps), x, grad_out)[0]
''',
    "ex-06-greedy-decode": '''
def my_greedy_decode(model, src, max_len):
    return model.greedy_decode(src, bos_id=task.BOS, eos_id=task.EOS, max_len=max_len)
''',
}
