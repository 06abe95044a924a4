"""enas_edu: Efficient Neural Architecture Search (Pham et al., 2018) in PyTorch, for teaching.

The package follows the flow of the method: search spaces (``enas_edu.spaces``), the LSTM
controller (``enas_edu.controller``) trained with REINFORCE (``enas_edu.reinforce``), and, in
later modules, shared-weight supernets, the search loop, derivation and final training.
"""

__version__ = "0.1.0"
