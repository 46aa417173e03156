# hamlet: a message copied or moved out of Junk is learned as ham — unless
# it goes to Trash: deleting spam says nothing about it being ham.
# Run by Dovecot's IMAPSieve (imapsieve_mailbox2_before in
# 90-hamlet-learn.conf); hamlet-learn sends it to hamlet's controller
# (POST /learnham, as rspamc learn_ham does). A message learned as spam
# before is relearned: its tokens move from spam to ham.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
  set "mailbox" "${1}";
}

if string :is "${mailbox}" ["Trash", "Deleted Messages"] {
  stop;
}

if environment :matches "imap.user" "*" {
  set "username" "${1}";
}

pipe :copy "hamlet-learn" ["ham", "${username}"];
