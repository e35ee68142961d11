#coding:utf-8
 
import squall.web
import squall.httpserver
import squall.options
import squall.ioloop
from squall.httpserver import HTTPServer  # slip fixed: the post never imports it
 
from squall.options import options , define
define("port",default=8001,help="跑在8001",type=int)
 
import time
class SleepHandler(squall.web.RequestHandler):
    def get(self):
        time.sleep(10)
        self.write("this is SleepHandler...")
 
class DirectHandler(squall.web.RequestHandler):
    def get(self):
        self.write("this is DirectHandler...")
 
if __name__ == "__main__":
    squall.options.parse_command_line()
    app = squall.web.Application(
        handlers = [
            (r"/d",DirectHandler),
            (r"/s",SleepHandler),
        ],
        debug = False
    )
    sockets = squall.netutil.bind_sockets(options.port)  # slip fixed: the post has a bare `port`
    squall.process.fork_processes(0)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    squall.ioloop.IOLoop.instance().start()
