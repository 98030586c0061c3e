"""MLflow "models from code" entry: the file MLflow stores with the champion and runs to load it.

It only names the model object (:class:`avsep.tracking.pyfunc.AvsepPyfunc`), so the registered
model holds no pickled Python object.
"""

import mlflow.models

from avsep.tracking.pyfunc import AvsepPyfunc

mlflow.models.set_model(AvsepPyfunc())
