#!/bin/sh
# A static page, served by the showroom's Apache on the demo's port.
# PARAMS: title
set -eu
directory=$(pwd)
# The title is the user's text: escaped for HTML (a variable's value is never run by the shell).
escaped=$(printf '%s' "${title:-$name}" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g')
mkdir -p site
cat > site/index.html <<EOF
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>$escaped</title></head>
<body><h1>$escaped</h1><p>The demo $name, on port $PORT.</p></body>
</html>
EOF
cat > apache2.conf <<EOF
Listen $HOST:$PORT
<VirtualHost *:$PORT>
    DocumentRoot "$directory/site"
    <Directory "$directory/site">
        Require all granted
    </Directory>
</VirtualHost>
EOF
echo "static site $name: site/index.html and apache2.conf written"
