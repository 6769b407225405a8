"""Sample landing data with planted ground truth: the generator (``generator``) and its
sentence bank (``texts``). Used by ``emodrift sample``, the tests and the benchmarks."""
