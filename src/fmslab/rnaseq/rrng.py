"""R's default random number stream, to reproduce ``set.seed(s); rchisq(); rnorm()`` exactly.

R DESeq2 draws its Monte-Carlo prior variance (:mod:`.priorvar`) from R's generator after
``set.seed(2)``. The KL curve it smooths is noisy enough that the argmin moves by a few hundredths
between random streams, and independent filtering of the final results is sensitive to that, so
we replay R's stream rather than approximate it:

- ``set.seed(seed)``: 50 + 1 rounds of the LCG ``seed = 69069 * seed + 1`` (unsigned 32-bit), then
  625 more values fill ``.Random.seed``; the first is replaced by ``mti = 624`` and the rest are
  the Mersenne-Twister key (R ``RNG.c``: ``RNG_Init``, ``FixupSeeds``). numpy's ``MT19937`` with
  that key and ``pos = 624`` yields the same 32-bit words;
- ``unif_rand() = word * 2^-32`` (``MT_genrand``; values at 0 or 1 are nudged as R's ``fixup``);
- ``norm_rand()`` (``normal.kind = "Inversion"``): ``u = floor(2^27 u1) + u2; qnorm(u / 2^27)``;
  ``rnorm(mu, 0)`` returns ``mu`` without consuming the stream;
- ``exp_rand()``: Ahrens & Dieter (1972) algorithm SA (R ``sexp.c``);
- ``rgamma(a >= 1)``: Ahrens & Dieter (1982) algorithm GD (R ``rgamma.c``), ``rchisq(df) =
  rgamma(df / 2, 2)``.

The generator is written for that purpose only (shape >= 1, i.e. ``df >= 2`` for chi-square;
``df = 1`` uses R's shape < 1 branch, also implemented).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

_U32 = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10
_BIG = 134217728.0
_LN2 = math.log(2.0)
# q[k-1] = sum_{j=1..k} ln(2)^j / j!  (R sexp.c)
_EXP_Q = np.cumsum([_LN2**j / math.factorial(j) for j in range(1, 17)]).tolist()
_EXP_Q[-1] = 1.0


class RStream:
    """R's Mersenne-Twister stream after ``set.seed(seed)``."""

    def __init__(self, seed: int, block: int = 1 << 16) -> None:
        s = seed & _U32
        for _ in range(50):
            s = (69069 * s + 1) & _U32
        words = []
        for _ in range(625):
            s = (69069 * s + 1) & _U32
            words.append(s)
        bitgen = np.random.MT19937()
        bitgen.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.array(words[1:], dtype=np.uint32), "pos": 624},
        }
        self._bitgen = bitgen
        self._block = block
        self._buf: list[float] = []
        self._pos = 0

    def _refill(self) -> None:
        raw = self._bitgen.random_raw(self._block).astype(np.float64) * 2.3283064365386963e-10
        raw[raw <= 0.0] = 0.5 * _I2_32M1
        raw[1.0 - raw <= 0.0] = 1.0 - 0.5 * _I2_32M1
        self._buf = self._buf[self._pos :] + raw.tolist()
        self._pos = 0

    def uniforms(self, n: int) -> np.ndarray:
        """The next ``n`` values of ``unif_rand()``."""
        while len(self._buf) - self._pos < n:
            self._refill()
        out = np.asarray(self._buf[self._pos : self._pos + n])
        self._pos += n
        return out

    def unif(self) -> float:
        if self._pos >= len(self._buf):
            self._refill()
        u = self._buf[self._pos]
        self._pos += 1
        return u

    def norm(self) -> float:
        u = self.unif()
        u = int(_BIG * u) + self.unif()
        return float(ndtri(u / _BIG))

    def rnorm(self, n: int, mean: float = 0.0, sd: float = 1.0) -> np.ndarray:
        """``rnorm(n, mean, sd)``; ``sd == 0`` draws nothing, as in R."""
        if sd == 0.0:
            return np.full(n, mean)
        u = self.uniforms(2 * n).reshape(n, 2)
        z = ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG)
        return mean + sd * z

    def exp(self) -> float:
        q = _EXP_Q
        a = 0.0
        u = self.unif()
        while u <= 0.0 or u >= 1.0:
            u = self.unif()
        while True:
            u += u
            if u > 1.0:
                break
            a += q[0]
        u -= 1.0
        if u <= q[0]:
            return a + u
        i = 0
        ustar = self.unif()
        umin = ustar
        while True:
            ustar = self.unif()
            if umin > ustar:
                umin = ustar
            i += 1
            if not u > q[i]:
                break
        return a + umin * q[0]

    def rgamma(self, n: int, shape: float, scale: float) -> np.ndarray:
        """``rgamma(n, shape, scale = scale)``."""
        if shape < 1.0:
            return np.array([self._gamma_small(shape) for _ in range(n)]) * scale
        return np.array(self._gamma_gd(n, shape)) * scale

    def rchisq(self, n: int, df: float) -> np.ndarray:
        return self.rgamma(n, df / 2.0, 2.0)

    def _gamma_small(self, a: float) -> float:
        b = 1.0 + 0.36787944117144232159 * a
        while True:
            p = b * self.unif()
            if p >= 1.0:
                x = -math.log((b - p) / a)
                if self.exp() >= (1.0 - a) * math.log(x):
                    return x
            else:
                x = math.exp(math.log(p) / a)
                if self.exp() >= x:
                    return x

    def _gamma_gd(self, n: int, a: float) -> list[float]:
        a1, a2, a3, a4 = 0.3333333, -0.250003, 0.2000062, -0.1662921
        a5, a6, a7 = 0.1423657, -0.1367177, 0.1233795
        q1, q2, q3, q4 = 0.04166669, 0.02083148, 0.00801191, 0.00144121
        q5, q6, q7 = -7.388e-5, 2.4511e-4, 2.424e-4
        s2 = a - 0.5
        s = math.sqrt(s2)
        d = 5.656854 - s * 12.0
        r = 1.0 / a
        q0 = ((((((q7 * r + q6) * r + q5) * r + q4) * r + q3) * r + q2) * r + q1) * r
        if a <= 3.686:
            b = 0.463 + s + 0.178 * s2
            si = 1.235
            c = 0.195 / s - 0.079 + 0.16 * s
        elif a <= 13.022:
            b = 1.654 + 0.0076 * s2
            si = 1.68 / s + 0.275
            c = 0.062 / s + 0.024
        else:
            b = 1.77
            si = 0.75
            c = 0.1515 / s
        log, exp, fabs, expm1 = math.log, math.exp, math.fabs, math.expm1
        norm, unif, sexp = self.norm, self.unif, self.exp
        out = []
        for _ in range(n):
            t = norm()
            x = s + 0.5 * t
            if t >= 0.0:
                out.append(x * x)
                continue
            u = unif()
            if d * u <= t * t * t:
                out.append(x * x)
                continue
            if x > 0.0:
                v = t / (s + s)
                if fabs(v) <= 0.25:
                    q = (
                        q0
                        + 0.5
                        * t
                        * t
                        * ((((((a7 * v + a6) * v + a5) * v + a4) * v + a3) * v + a2) * v + a1)
                        * v
                    )
                else:
                    q = q0 - s * t + 0.25 * t * t + (s2 + s2) * log(1.0 + v)
                if log(1.0 - u) <= q:
                    out.append(x * x)
                    continue
            while True:
                e = sexp()
                u = unif()
                u = u + u - 1.0
                t = b - si * e if u < 0.0 else b + si * e
                if t >= -0.71874483771719:
                    v = t / (s + s)
                    if fabs(v) <= 0.25:
                        q = (
                            q0
                            + 0.5
                            * t
                            * t
                            * ((((((a7 * v + a6) * v + a5) * v + a4) * v + a3) * v + a2) * v + a1)
                            * v
                        )
                    else:
                        q = q0 - s * t + 0.25 * t * t + (s2 + s2) * log(1.0 + v)
                    if q > 0.0:
                        w = expm1(q)
                        if c * fabs(u) <= w * exp(e - 0.5 * t * t):
                            break
            x = s + 0.5 * t
            out.append(x * x)
        return out
