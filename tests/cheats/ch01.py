"""Chapter 01 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-01-lm-windows": '''\
from numpy.lib.stride_tricks import sliding_window_view


def lm_windows(ids, block_size, stride):
    windows = sliding_window_view(np.asarray(ids), block_size + 1)[::stride]   # (n, T + 1)
    return windows[:, :-1], windows[:, 1:]
''',
    "ex-01-embedding-grad": '''\
def embedding_grad(ids, G, V):
    return one_hot(ids, V).T.astype(G.dtype) @ G          # X^T G with the library's one-hot rows
''',
    "ex-01-zipf-fit": '''\
def fit_line(x, y):
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)
''',
}
