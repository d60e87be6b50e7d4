"""The seam between the pipeline and a kind of data: the interface (``base``) and the registry that maps
``data.modality`` to an implementation (``registry``). Neither imports a modality at import time."""
