"""Code the api-server runs besides the REST app: submission, dispatch and stop of Airflow runs,
workflows; and the reconciler, a component of its own that the api-server's code shares. It may
use Airflow's ORM and our tables; tasks never import it."""
