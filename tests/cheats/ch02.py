"""Chapter 02 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-02-cbow-grad": '''\
def cbow_grads(V_in, U_out, context, centre, negatives):
    h = V_in[context].mean(axis=0)
    loss, dh, du_c, du_neg = w2v.sgns_loss_and_grads(h[None], U_out[[centre]], U_out[negatives][None])
    dV, dU = np.zeros_like(V_in), np.zeros_like(U_out)
    np.add.at(dV, context, np.repeat(dh / len(context), len(context), axis=0))
    dU[centre] += du_c[0]
    np.add.at(dU, negatives, du_neg[0])
    return loss, dV, dU
''',
    "ex-02-expected-pairs": '''\
def expected_pairs(lengths, window):
    doc_ = np.repeat(np.arange(len(lengths)), lengths)
    pos_, valid_ = w2v.window_positions(len(doc_), window, doc=doc_)
    dist_ = np.abs(pos_ - np.arange(len(doc_))[:, None])
    return float(np.sum(valid_ * (window - dist_ + 1) / window))
''',
    "ex-02-3cosmul": '''\
from gensim.models import KeyedVectors


def analogy_3cosmul(wv, a, b, c, topn=5):
    kv_ = KeyedVectors(vector_size=wv.vector_size)
    kv_.add_vectors(wv.words, wv.vectors)
    return kv_.most_similar_cosmul(positive=[b, c], negative=[a], topn=topn)
''',
}
