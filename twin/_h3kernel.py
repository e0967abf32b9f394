"""Vectorised H3 indexing: a numba port of H3's ``latLngToCell`` (bit-identical to the h3 library).

The arithmetic follows the C sources of H3 v4.5.0 (https://github.com/uber/h3, Apache-2.0) operation
for operation, so that every rounding happens exactly where it does in C and the cell ids match
``h3.latlng_to_cell`` bit for bit at every resolution 0–15:

- ``src/h3lib/lib/h3Index.c``: ``latLngToCell``, ``vec3ToCell``, ``_faceIjkToH3``, the digit rotations
  ``_h3Rotate60ccw``, ``_h3Rotate60cw``, ``_h3RotatePent60ccw``, ``_h3LeadingNonZeroDigit``;
- ``src/h3lib/lib/faceijk.c``: ``_vec3ToFaceIjk``, ``_vec3ToHex2d``, ``_vec3ToClosestFace``,
  ``_vec3AzimuthRads``, ``_vec3TangentBasis`` and the tables ``faceCenterPoint``, ``faceAxesAzRadsCII``;
- ``src/h3lib/include/coordijk.h``: ``_hex2dToCoordIJK``, ``_ijkNormalize``, ``_upAp7``, ``_upAp7r``,
  ``_downAp7``, ``_downAp7r``, ``_unitIjkToDigit``, ``_rotate60ccw``, ``_rotate60cw``, ``UNIT_VECS``;
- ``src/h3lib/include/vec3d.h``: ``latLngToVec3``, ``vec3LinComb``, ``vec3Dot``, ``vec3Cross``,
  ``vec3Normalize``, ``vec3DistSq``;
- ``src/h3lib/lib/latLng.c``: ``_posAngleRads``, ``degsToRads``;
- ``src/h3lib/lib/baseCells.c``: the tables ``faceIjkBaseCells`` and ``baseCellData`` (pentagons and
  their clockwise-offset faces);
- ``src/h3lib/include/constants.h`` and ``h3Index.h``: the constants and the bit layout of an index.

The tables below are copied from those files (extracted mechanically, not retyped). This module does
not import ``h3``: `twin.h3grid` is the only one that does, and the tests check the two agree.

Two rewrites keep the results identical while doing less work: the digit loop of ``_faceIjkToH3``
runs in axial coordinates (``i - k``, ``j - k``), which ``_ijkNormalize`` leaves unchanged, so its
normalisations drop out; and ``lround(n * M_ONESEVENTH)`` becomes the exact integer
``floor((2n + 7) / 14)`` (``n / 7`` is never within 1/14 of a half, far beyond rounding error).
Both are checked against the h3 library at every resolution by the tests.

Indices are built as ``int64`` (bit 63 of a cell index is always 0) so that numba never mixes signed
and unsigned integers, and returned as ``uint64``.
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["PARALLEL_THRESHOLD", "latlng_to_cells"]

#: below this many points the serial kernel is used (thread start-up would cost more than it saves)
PARALLEL_THRESHOLD = 20_000
_PARALLEL_LOCK = threading.Lock()

# --- constants.h -------------------------------------------------------------------------------
_M_PI_180 = 0.0174532925199432957692369076848861271111
_M_2PI = 6.28318530717958647692528676655900576839433
_EPSILON = 0.0000000000000001
_M_RSIN60 = 1.1547005383792515290182975610039149112953
_M_AP7_ROT_RADS = 0.333473172251832115336090755351601070065900389
_INV_RES0_U_GNOMONIC = 2.61803398874989588842
_M_SQRT7 = 2.6457513110645905905016157536392604257102  # faceijk.c
_MAX_FACE_COORD = 2  # baseCells.h

# --- h3Index.h: bit layout -----------------------------------------------------------------------
_H3_INIT = 35184372088831  # mode 0, res 0, base cell 0, every digit 7
_H3_MODE_OFFSET = 59
_H3_RES_OFFSET = 52
_H3_BC_OFFSET = 45
_H3_CELL_MODE = 1
_K_AXES_DIGIT = 1

# faceCenterPoint (faceijk.c): icosahedron face centres, unit vectors x, y, z
_FACE_CENTER_XYZ = (
    (0.2199307791404606, 0.6583691780274996, 0.7198475378926182),  # face 0
    (-0.2139234834501421, 0.1478171829550703, 0.9656017935214205),  # face 1
    (0.1092625278784797, -0.4811951572873210, 0.8697775121287253),  # face 2
    (0.7428567301586791, -0.3593941678278028, 0.5648005936517033),  # face 3
    (0.8112534709140969, 0.3448953237639384, 0.4721387736413930),  # face 4
    (-0.1055498149613921, 0.9794457296411413, 0.1718874610009365),  # face 5
    (-0.8075407579970092, 0.1533552485898818, 0.5695261994882688),  # face 6
    (-0.2846148069787907, -0.8644080972654206, 0.4144792552473539),  # face 7
    (0.7405621473854482, -0.6673299564565524, -0.0789837646326737),  # face 8
    (0.8512303986474293, 0.4722343788582681, -0.2289137388687808),  # face 9
    (-0.7405621473854481, 0.6673299564565524, 0.0789837646326737),  # face 10
    (-0.8512303986474292, -0.4722343788582682, 0.2289137388687808),  # face 11
    (0.1055498149613919, -0.9794457296411413, -0.1718874610009365),  # face 12
    (0.8075407579970092, -0.1533552485898819, -0.5695261994882688),  # face 13
    (0.2846148069787908, 0.8644080972654204, -0.4144792552473539),  # face 14
    (-0.7428567301586791, 0.3593941678278027, -0.5648005936517033),  # face 15
    (-0.8112534709140971, -0.3448953237639382, -0.4721387736413930),  # face 16
    (-0.2199307791404607, -0.6583691780274996, -0.7198475378926182),  # face 17
    (0.2139234834501420, -0.1478171829550704, -0.9656017935214205),  # face 18
    (-0.1092625278784796, 0.4811951572873210, -0.8697775121287253),  # face 19
)
# faceAxesAzRadsCII[face][0] (faceijk.c): azimuth of the face's i axis, radians
_FACE_AXIS_AZ0 = (
    5.619958268523939882,  # face 0
    5.760339081714187279,  # face 1
    0.780213654393430055,  # face 2
    0.430469363979999913,  # face 3
    6.130269123335111400,  # face 4
    2.692877706530642877,  # face 5
    2.982963003477243874,  # face 6
    3.532912002790141181,  # face 7
    3.494305004259568154,  # face 8
    3.003214169499538391,  # face 9
    5.930472956509811562,  # face 10
    0.138378484090254847,  # face 11
    0.448714947059150361,  # face 12
    0.158629650112549365,  # face 13
    5.891865957979238535,  # face 14
    2.711123289609793325,  # face 15
    3.294508837434268316,  # face 16
    3.804819692245439833,  # face 17
    3.664438879055192436,  # face 18
    2.361378999196363184,  # face 19
)
# faceIjkBaseCells (baseCells.c): base cell and ccw 60° rotations, indexed [face][i][j][k]
# fmt: off
_FACE_IJK_BASE_CELL = (
    16, 18, 24, 33, 30, 32, 49, 48, 50,  # face 0, i 0
    8, 5, 10, 22, 16, 18, 41, 33, 30,  # face 0, i 1
    4, 0, 2, 15, 8, 5, 31, 22, 16,  # face 0, i 2
    2, 6, 14, 10, 11, 17, 24, 23, 25,  # face 1, i 0
    0, 1, 9, 5, 2, 6, 18, 10, 11,  # face 1, i 1
    4, 3, 7, 8, 0, 1, 16, 5, 2,  # face 1, i 2
    7, 21, 38, 9, 19, 34, 14, 20, 36,  # face 2, i 0
    3, 13, 29, 1, 7, 21, 6, 9, 19,  # face 2, i 1
    4, 12, 26, 0, 3, 13, 2, 1, 7,  # face 2, i 2
    26, 42, 58, 29, 43, 62, 38, 47, 64,  # face 3, i 0
    12, 28, 44, 13, 26, 42, 21, 29, 43,  # face 3, i 1
    4, 15, 31, 3, 12, 28, 7, 13, 26,  # face 3, i 2
    31, 41, 49, 44, 53, 61, 58, 65, 75,  # face 4, i 0
    15, 22, 33, 28, 31, 41, 42, 44, 53,  # face 4, i 1
    4, 8, 16, 12, 15, 22, 26, 28, 31,  # face 4, i 2
    50, 48, 49, 32, 30, 33, 24, 18, 16,  # face 5, i 0
    70, 67, 66, 52, 50, 48, 37, 32, 30,  # face 5, i 1
    83, 87, 85, 74, 70, 67, 57, 52, 50,  # face 5, i 2
    25, 23, 24, 17, 11, 10, 14, 6, 2,  # face 6, i 0
    45, 39, 37, 35, 25, 23, 27, 17, 11,  # face 6, i 1
    63, 59, 57, 56, 45, 39, 46, 35, 25,  # face 6, i 2
    36, 20, 14, 34, 19, 9, 38, 21, 7,  # face 7, i 0
    55, 40, 27, 54, 36, 20, 51, 34, 19,  # face 7, i 1
    72, 60, 46, 73, 55, 40, 71, 54, 36,  # face 7, i 2
    64, 47, 38, 62, 43, 29, 58, 42, 26,  # face 8, i 0
    84, 69, 51, 82, 64, 47, 76, 62, 43,  # face 8, i 1
    97, 89, 71, 98, 84, 69, 96, 82, 64,  # face 8, i 2
    75, 65, 58, 61, 53, 44, 49, 41, 31,  # face 9, i 0
    94, 86, 76, 81, 75, 65, 66, 61, 53,  # face 9, i 1
    107, 104, 96, 101, 94, 86, 85, 81, 75,  # face 9, i 2
    57, 59, 63, 74, 78, 79, 83, 92, 95,  # face 10, i 0
    37, 39, 45, 52, 57, 59, 70, 74, 78,  # face 10, i 1
    24, 23, 25, 32, 37, 39, 50, 52, 57,  # face 10, i 2
    46, 60, 72, 56, 68, 80, 63, 77, 90,  # face 11, i 0
    27, 40, 55, 35, 46, 60, 45, 56, 68,  # face 11, i 1
    14, 20, 36, 17, 27, 40, 25, 35, 46,  # face 11, i 2
    71, 89, 97, 73, 91, 103, 72, 88, 105,  # face 12, i 0
    51, 69, 84, 54, 71, 89, 55, 73, 91,  # face 12, i 1
    38, 47, 64, 34, 51, 69, 36, 54, 71,  # face 12, i 2
    96, 104, 107, 98, 110, 115, 97, 111, 119,  # face 13, i 0
    76, 86, 94, 82, 96, 104, 84, 98, 110,  # face 13, i 1
    58, 65, 75, 62, 76, 86, 64, 82, 96,  # face 13, i 2
    85, 87, 83, 101, 102, 100, 107, 112, 114,  # face 14, i 0
    66, 67, 70, 81, 85, 87, 94, 101, 102,  # face 14, i 1
    49, 48, 50, 61, 66, 67, 75, 81, 85,  # face 14, i 2
    95, 92, 83, 79, 78, 74, 63, 59, 57,  # face 15, i 0
    109, 108, 100, 93, 95, 92, 77, 79, 78,  # face 15, i 1
    117, 118, 114, 106, 109, 108, 90, 93, 95,  # face 15, i 2
    90, 77, 63, 80, 68, 56, 72, 60, 46,  # face 16, i 0
    106, 93, 79, 99, 90, 77, 88, 80, 68,  # face 16, i 1
    117, 109, 95, 113, 106, 93, 105, 99, 90,  # face 16, i 2
    105, 88, 72, 103, 91, 73, 97, 89, 71,  # face 17, i 0
    113, 99, 80, 116, 105, 88, 111, 103, 91,  # face 17, i 1
    117, 106, 90, 121, 113, 99, 119, 116, 105,  # face 17, i 2
    119, 111, 97, 115, 110, 98, 107, 104, 96,  # face 18, i 0
    121, 116, 103, 120, 119, 111, 112, 115, 110,  # face 18, i 1
    117, 113, 105, 118, 121, 116, 114, 120, 119,  # face 18, i 2
    114, 112, 107, 100, 102, 101, 83, 87, 85,  # face 19, i 0
    118, 120, 115, 108, 114, 112, 92, 100, 102,  # face 19, i 1
    117, 121, 119, 109, 118, 120, 95, 108, 114,  # face 19, i 2
)
_FACE_IJK_CCW_ROT60 = (
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 0, i 0
    0, 5, 5, 0, 0, 0, 1, 0, 0,  # face 0, i 1
    0, 5, 5, 1, 0, 5, 1, 0, 0,  # face 0, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 1, i 0
    0, 5, 5, 0, 0, 0, 1, 0, 0,  # face 1, i 1
    1, 5, 5, 1, 0, 5, 1, 0, 0,  # face 1, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 2, i 0
    0, 5, 5, 0, 0, 0, 1, 0, 0,  # face 2, i 1
    2, 5, 5, 1, 0, 5, 1, 0, 0,  # face 2, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 3, i 0
    0, 5, 5, 0, 0, 0, 1, 0, 0,  # face 3, i 1
    3, 5, 5, 1, 0, 5, 1, 0, 0,  # face 3, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 4, i 0
    0, 5, 5, 0, 0, 0, 1, 0, 0,  # face 4, i 1
    4, 5, 5, 1, 0, 5, 1, 0, 0,  # face 4, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 5, i 0
    0, 0, 3, 3, 0, 0, 3, 0, 3,  # face 5, i 1
    0, 3, 3, 3, 0, 0, 1, 3, 0,  # face 5, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 6, i 0
    0, 0, 3, 3, 0, 0, 3, 0, 3,  # face 6, i 1
    0, 3, 3, 3, 0, 0, 3, 3, 0,  # face 6, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 7, i 0
    0, 0, 3, 3, 0, 0, 3, 0, 3,  # face 7, i 1
    0, 3, 3, 3, 0, 0, 3, 3, 0,  # face 7, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 8, i 0
    0, 0, 3, 3, 0, 0, 3, 0, 3,  # face 8, i 1
    0, 3, 3, 3, 0, 0, 3, 3, 0,  # face 8, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 9, i 0
    0, 0, 3, 3, 0, 0, 3, 0, 3,  # face 9, i 1
    0, 3, 3, 3, 0, 0, 3, 3, 0,  # face 9, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 10, i 0
    0, 3, 3, 0, 0, 0, 3, 0, 3,  # face 10, i 1
    0, 3, 3, 3, 0, 3, 3, 0, 0,  # face 10, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 11, i 0
    0, 3, 3, 0, 0, 0, 3, 0, 3,  # face 11, i 1
    0, 3, 3, 3, 0, 3, 3, 0, 0,  # face 11, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 12, i 0
    0, 3, 3, 0, 0, 0, 3, 0, 3,  # face 12, i 1
    0, 3, 3, 3, 0, 3, 3, 0, 0,  # face 12, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 13, i 0
    0, 3, 3, 0, 0, 0, 3, 0, 3,  # face 13, i 1
    0, 3, 3, 3, 0, 3, 3, 0, 0,  # face 13, i 2
    0, 0, 3, 0, 3, 3, 3, 3, 3,  # face 14, i 0
    0, 3, 3, 0, 0, 0, 3, 0, 3,  # face 14, i 1
    0, 3, 3, 3, 0, 3, 3, 0, 0,  # face 14, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 15, i 0
    0, 0, 5, 1, 0, 0, 1, 0, 0,  # face 15, i 1
    4, 5, 5, 1, 0, 0, 1, 1, 0,  # face 15, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 16, i 0
    0, 0, 5, 1, 0, 0, 1, 0, 0,  # face 16, i 1
    3, 5, 5, 1, 0, 0, 1, 1, 0,  # face 16, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 17, i 0
    0, 0, 5, 1, 0, 0, 1, 0, 0,  # face 17, i 1
    2, 5, 5, 1, 0, 0, 1, 1, 0,  # face 17, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 18, i 0
    0, 0, 5, 1, 0, 0, 1, 0, 0,  # face 18, i 1
    1, 5, 5, 1, 0, 0, 1, 1, 0,  # face 18, i 2
    0, 0, 0, 0, 0, 3, 1, 3, 3,  # face 19, i 0
    0, 0, 5, 1, 0, 0, 1, 0, 0,  # face 19, i 1
    0, 5, 5, 1, 0, 0, 1, 1, 0,  # face 19, i 2
)
# fmt: on
# baseCellData (baseCells.c): the 12 pentagon base cells and their two cw-offset faces
_PENTAGON_CW_OFFSET_FACES = {
    4: (-1, -1),
    14: (2, 6),
    24: (1, 5),
    38: (3, 7),
    49: (0, 9),
    58: (4, 8),
    63: (11, 15),
    72: (12, 16),
    83: (10, 19),
    97: (13, 17),
    107: (14, 18),
    117: (-1, -1),
}


def _tangent_basis(p: tuple[float, float, float]) -> tuple[float, ...]:
    """Return (north, east) at a face centre, computed as ``_vec3TangentBasis`` does (IEEE doubles)."""
    px, py, pz = p
    b = -(0.0 * px + 0.0 * py + 1.0 * pz)  # -vec3Dot(northPole, p)
    nx = 1.0 * 0.0 + b * px
    ny = 1.0 * 0.0 + b * py
    nz = 1.0 * 1.0 + b * pz
    norm = math.sqrt(nx * nx + ny * ny + nz * nz)
    s = 1.0 / norm if norm > 0.0 else 0.0
    nx, ny, nz = nx * s, ny * s, nz * s
    ex = ny * pz - nz * py
    ey = nz * px - nx * pz
    ez = nx * py - ny * px
    return (nx, ny, nz, ex, ey, ez)


_CENTERS = np.array(_FACE_CENTER_XYZ, dtype=np.float64)
_BASIS = np.array([_tangent_basis(p) for p in _FACE_CENTER_XYZ], dtype=np.float64)
_AXIS_AZ0 = np.array(_FACE_AXIS_AZ0, dtype=np.float64)
_BASE_CELL = np.array(_FACE_IJK_BASE_CELL, dtype=np.int64)
_BASE_ROT = np.array(_FACE_IJK_CCW_ROT60, dtype=np.int64)
_IS_PENTAGON = np.zeros(122, dtype=np.bool_)
_CW_OFFSET = np.full((122, 2), -1, dtype=np.int64)
for _bc, _faces in _PENTAGON_CW_OFFSET_FACES.items():
    _IS_PENTAGON[_bc] = True
    _CW_OFFSET[_bc] = _faces
# coordijk.h: _rotate60ccw / _rotate60cw as lookup tables over digits 0..7
_ROT_CCW = np.array([0, 5, 3, 1, 6, 4, 2, 7], dtype=np.int64)
_AXIAL_DIGIT = np.array([1, 3, 7, 5, 0, 2, 7, 4, 6], dtype=np.int64)
_ROT_CCW_POW = np.empty((6, 8), dtype=np.int64)
_ROT_CCW_POW[0] = np.arange(8)
for _n in range(1, 6):
    _ROT_CCW_POW[_n] = _ROT_CCW[_ROT_CCW_POW[_n - 1]]
_ROT_CW = np.array([0, 3, 6, 2, 5, 1, 4, 7], dtype=np.int64)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pos_angle(rads: float) -> float:
    tmp = rads + _M_2PI if rads < 0.0 else rads
    if rads >= _M_2PI:
        tmp -= _M_2PI
    return tmp


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _normalize(i: int, j: int, k: int) -> tuple[int, int, int]:
    if i < 0:
        j -= i
        k -= i
        i = 0
    if j < 0:
        i -= j
        k -= j
        j = 0
    if k < 0:
        i -= k
        j -= k
        k = 0
    m = i
    m = min(m, j)
    m = min(m, k)
    if m > 0:
        i -= m
        j -= m
        k -= m
    return i, j, k


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _get_digit(h: int, r: int) -> int:
    return (h >> ((15 - r) * 3)) & 7


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _set_digit(h: int, r: int, d: int) -> int:
    shift = (15 - r) * 3
    return (h & ~(7 << shift)) | (d << shift)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _leading_nonzero_digit(h: int, res: int) -> int:
    for r in range(1, res + 1):
        d = _get_digit(h, r)
        if d:
            return d
    return 0


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rotate(h: int, res: int, table: npt.NDArray[np.int64]) -> int:
    for r in range(1, res + 1):
        h = _set_digit(h, r, table[_get_digit(h, r)])
    return h


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rotate_pent_ccw(h: int, res: int) -> int:
    found = False
    for r in range(1, res + 1):
        h = _set_digit(h, r, _ROT_CCW[_get_digit(h, r)])
        if not found and _get_digit(h, r) != 0:
            found = True
            if _leading_nonzero_digit(h, res) == _K_AXES_DIGIT:
                h = _rotate(h, res, _ROT_CCW)
    return h


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cell(lat_deg: float, lng_deg: float, res: int) -> int:
    """Return the H3 cell (as int64) of one point in degrees; 0 (H3_NULL) on out-of-range input."""
    if not (math.isfinite(lat_deg) and math.isfinite(lng_deg)):
        return 0  # latLngToCell: E_LATLNG_DOMAIN
    # latLngToCell: degsToRads, then latLngToVec3
    lat = lat_deg * _M_PI_180
    lng = lng_deg * _M_PI_180
    rc = math.cos(lat)
    px = math.cos(lng) * rc
    py = math.sin(lng) * rc
    pz = math.sin(lat)

    # _vec3ToClosestFace
    face = 0
    sqd = 5.0
    for f in range(20):
        dx = 1.0 * _CENTERS[f, 0] + -1.0 * px
        dy = 1.0 * _CENTERS[f, 1] + -1.0 * py
        dz = 1.0 * _CENTERS[f, 2] + -1.0 * pz
        d = dx * dx + dy * dy + dz * dz
        if d < sqd:
            face = f
            sqd = d

    # _vec3ToHex2d
    r = math.acos(1 - sqd * 0.5)
    if r < _EPSILON:
        vx = 0.0
        vy = 0.0
    else:
        cx = _CENTERS[face, 0]
        cy = _CENTERS[face, 1]
        cz = _CENTERS[face, 2]
        # _vec3AzimuthRads(faceCenterPoint[face], p): project p on the tangent plane at the centre
        b = -(px * cx + py * cy + pz * cz)
        qx = 1.0 * px + b * cx
        qy = 1.0 * py + b * cy
        qz = 1.0 * pz + b * cz
        norm = math.sqrt(qx * qx + qy * qy + qz * qz)
        s = 0.0
        if norm > 0.0:
            s = 1.0 / norm
        qx *= s
        qy *= s
        qz *= s
        east = qx * _BASIS[face, 3] + qy * _BASIS[face, 4] + qz * _BASIS[face, 5]
        north = qx * _BASIS[face, 0] + qy * _BASIS[face, 1] + qz * _BASIS[face, 2]
        az = math.atan2(east, north)
        theta = _pos_angle(_AXIS_AZ0[face] - _pos_angle(az))
        if res % 2 == 1:
            theta = _pos_angle(theta - _M_AP7_ROT_RADS)
        r = math.tan(r)
        r *= _INV_RES0_U_GNOMONIC
        for _ in range(res):
            r *= _M_SQRT7
        vx = r * math.cos(theta)
        vy = r * math.sin(theta)

    # _hex2dToCoordIJK
    a1 = abs(vx)
    a2 = abs(vy)
    x2 = a2 * _M_RSIN60
    x1 = a1 + x2 / 2.0
    m1 = int(x1)
    m2 = int(x2)
    r1 = x1 - m1
    r2 = x2 - m2
    if r1 < 0.5:
        if r1 < 1.0 / 3.0:
            ci = m1
            cj = m2 if r2 < (1.0 + r1) / 2.0 else m2 + 1
        else:
            cj = m2 if r2 < (1.0 - r1) else m2 + 1
            ci = m1 + 1 if (1.0 - r1) <= r2 < (2.0 * r1) else m1
    elif r1 < 2.0 / 3.0:
        cj = m2 if r2 < (1.0 - r1) else m2 + 1
        ci = m1 if (2.0 * r1 - 1.0) < r2 < (1.0 - r1) else m1 + 1
    else:
        ci = m1 + 1
        cj = m2 if r2 < (r1 / 2.0) else m2 + 1
    if vx < 0.0:
        if cj % 2 == 0:
            diff = ci - cj // 2
            ci = int(ci - 2.0 * diff)
        else:
            diff = ci - (cj + 1) // 2
            ci = int(ci - (2.0 * diff + 1))
    if vy < 0.0:
        ci = ci - (2 * cj + 1) // 2
        cj = -cj
    # _faceIjkToH3, in axial coordinates (a, b) = (i - k, j - k): _ijkNormalize leaves them unchanged,
    # so every normalisation of the C code drops out and only exact integer arithmetic remains.
    # _upAp7/_upAp7r round (n * M_ONESEVENTH) with lround; n / 7 is never within 1/14 of a half, so
    # that equals the exact nearest integer floor((2n + 7) / 14) for every reachable n.
    a = ci
    b = cj
    h = _H3_INIT
    h = (h & ~(15 << _H3_MODE_OFFSET)) | (_H3_CELL_MODE << _H3_MODE_OFFSET)
    h = (h & ~(15 << _H3_RES_OFFSET)) | (res << _H3_RES_OFFSET)
    for rr in range(res - 1, -1, -1):
        if (rr + 1) % 2 == 1:  # Class III: _upAp7, then the centre by _downAp7
            pa = (2 * (3 * a - b) + 7) // 14
            pb = (2 * (a + 2 * b) + 7) // 14
            da = a - (2 * pa + pb)
            db = b - (3 * pb - pa)
        else:  # Class II: _upAp7r, then the centre by _downAp7r
            pa = (2 * (2 * a + b) + 7) // 14
            pb = (2 * (3 * b - a) + 7) // 14
            da = a - (3 * pa - pb)
            db = b - (pa + 2 * pb)
        digit = 7  # _unitIjkToDigit: INVALID_DIGIT unless a unit vector
        if -1 <= da <= 1 and -1 <= db <= 1:
            digit = _AXIAL_DIGIT[(da + 1) * 3 + (db + 1)]
        h = _set_digit(h, rr + 1, digit)
        a = pa
        b = pb
    i, j, k = _normalize(a, b, 0)

    if i > _MAX_FACE_COORD or j > _MAX_FACE_COORD or k > _MAX_FACE_COORD:
        return 0
    slot = face * 27 + i * 9 + j * 3 + k
    base_cell = _BASE_CELL[slot]
    h = (h & ~(127 << _H3_BC_OFFSET)) | (base_cell << _H3_BC_OFFSET)
    rots = _BASE_ROT[slot]
    if _IS_PENTAGON[base_cell]:
        if _leading_nonzero_digit(h, res) == _K_AXES_DIGIT:
            if _CW_OFFSET[base_cell, 0] == face or _CW_OFFSET[base_cell, 1] == face:
                h = _rotate(h, res, _ROT_CW)
            else:
                h = _rotate(h, res, _ROT_CCW)
        for _ in range(rots):
            h = _rotate_pent_ccw(h, res)
    elif rots:
        # rots × _h3Rotate60ccw in one pass: digit -> _ROT_CCW applied rots times
        for r in range(1, res + 1):
            h = _set_digit(h, r, _ROT_CCW_POW[rots, _get_digit(h, r)])
    return h


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cells_serial(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], res: int, out: npt.NDArray[np.int64]
) -> None:
    for n in range(lat.size):
        out[n] = _cell(lat[n], lng[n], res)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _cells_parallel(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], res: int, out: npt.NDArray[np.int64]
) -> None:
    for n in numba.prange(lat.size):
        out[n] = _cell(lat[n], lng[n], res)


def latlng_to_cells(
    lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64], res: int
) -> npt.NDArray[np.uint64]:
    """Return the H3 cell of each point, as ``h3.latlng_to_cell`` would, as a uint64 array.

    Parameters
    ----------
    lat, lng
        Contiguous float64 arrays of the same length, in degrees. Inputs are not validated here
        (`twin.h3grid.latlng_to_cells` does that); a non-finite coordinate gives cell 0 (H3_NULL).
    res
        H3 resolution, 0–15.

    Returns
    -------
    numpy.ndarray
        uint64 cell ids, one per point.
    """
    out = np.empty(lat.size, dtype=np.int64)
    # one parallel launch at a time: numba's workqueue layer must not be entered concurrently, and a
    # second caller (e.g. another API worker thread) gains nothing from cores already busy
    if lat.size >= PARALLEL_THRESHOLD and _PARALLEL_LOCK.acquire(blocking=False):
        try:
            _cells_parallel(lat, lng, int(res), out)
        finally:
            _PARALLEL_LOCK.release()
    else:
        _cells_serial(lat, lng, int(res), out)
    return out.view(np.uint64)
