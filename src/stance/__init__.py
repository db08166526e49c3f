"""stance: the stance of each sentence toward each actor it mentions."""

__version__ = "0.1.0"
