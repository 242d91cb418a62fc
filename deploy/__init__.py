"""omapifo.deploy: the files of this directory as package data (setup.cfg maps deploy/ to
this package), so a wheel carries them; ``omapifo deploy-files DIR`` writes them out
(omapifo/clients/deployfiles.py). No code: setuptools' editable installs need this file to
map the directory."""
