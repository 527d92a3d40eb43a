"""The representatives' web console (``case-agent console``): see ``console/app.py``."""
