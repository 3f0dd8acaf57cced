"""tt-rnn: the expressive power of recurrent networks seen as Tensor-Train decompositions.

Modules
-------
tt        TT container, random / shared / witness cores, full tensor, unfoldings
networks  CP, TT (distinct or shared inner core) and HT score functions, the stable recurrence
features  image patches and per-patch feature maps
"""

from . import features, networks, tt
from .features import ConvPatchFeatures, LinearReLUFeatures, extract_patches, make_feature_map
from .networks import (CPNetwork, HTNetwork, ScoreClassifier, TTNetwork, count_parameters,
                       make_network)
from .tt import (TensorTrain, odd_even_unfolding, random_tt, shared_core_tt, tt_to_tensor, unfold,
                 validate_tt, witness_q, witness_tt)

__version__ = "0.1.0"
