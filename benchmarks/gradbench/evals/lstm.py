"""lstm: ADBench's LSTM character model, the mean log-loss over a sequence and its gradient
w.r.t. the main and extra parameters (reverse mode).

Layer i has weights main_params[2 i] and biases main_params[2 i + 1], each the four gates
(forget, input, output, change) side by side; its state is hidden = state[2 i],
cell = state[2 i + 1]. The gates are elementwise: forget and output gates read the
layer's input, the input gate and the change read its hidden state.
"""

import numpy as np

import s2sad

from . import Function, to_list


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_loss(main_params, extra_params, state, sequence):
    layers = main_params.shape[0] // 2
    b = sequence.shape[1]
    hidden = [state[2 * i] for i in range(layers)]
    cell = [state[2 * i + 1] for i in range(layers)]
    total = 0.0
    for t in range(sequence.shape[0] - 1):
        x = sequence[t] * extra_params[0]
        for i in range(layers):
            weight = main_params[2 * i]
            bias = main_params[2 * i + 1]
            forget = sigmoid(x * weight[:b] + bias[:b])
            ingate = sigmoid(hidden[i] * weight[b : 2 * b] + bias[b : 2 * b])
            outgate = sigmoid(x * weight[2 * b : 3 * b] + bias[2 * b : 3 * b])
            change = np.tanh(hidden[i] * weight[3 * b :] + bias[3 * b :])
            cell[i] = cell[i] * forget + ingate * change
            hidden[i] = outgate * np.tanh(cell[i])
            x = hidden[i]
        prediction = x * extra_params[1] + extra_params[2]
        normalized = prediction - np.log(np.sum(np.exp(prediction)) + 2.0)
        total = total + np.sum(sequence[t + 1] * normalized)
    return -total / ((sequence.shape[0] - 1) * b)


gradient = s2sad.grad(lstm_loss, argnums=(0, 1))


def _prepare(raw):
    return tuple(
        np.array(raw[name], dtype=float) for name in ("main_params", "extra_params", "state", "sequence")
    )


def _flat(grads):
    return np.concatenate([g.ravel() for g in grads]).tolist()


FUNCTIONS = {
    "objective": Function(_prepare, lambda args: lstm_loss(*args), float),
    "jacobian": Function(_prepare, lambda args: gradient(*args), _flat),
}
