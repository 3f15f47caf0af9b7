"""Chapter 03 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-03-linear-counts": '''\
def linear_counts(ids, window, V):
    # a pair d apart lies in the unweighted windows of reach d, d + 1, ..., window
    return sum(glove.cooccurrence_counts(np.asarray(ids), k, V, distance_weighting=False)
               for k in range(1, window + 1)).toarray() / window
''',
    "ex-03-grads": '''\
def glove_grads(W, W_t, b, b_t, rows, cols, x):
    return glove.glove_loss_and_grads(W, W_t, b, b_t, rows, cols, x)[1:]
''',
    "ex-03-ppmi": '''\
def ppmi_dense(C, cds=0.75):
    return glove.ppmi(sp.csr_matrix(C), cds=cds).toarray()
''',
}
